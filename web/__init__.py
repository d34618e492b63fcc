"""The HTTP edge: settings, authentication, GraphQL over HTTP and WebSocket, health, logs."""
