from datastore.store import Set, Query, Add
from datastore.keys import Key
from datastore.errors import *
import pytest

async def test_smoke(store):
    await store.put({"PK": "A", "SK": "B", "x": 8.5, "y": 3.0})
    print(await store.get(Key("A", "B")))
    big = "x" * 300_000
    await store.update(Key("A", "B"), [Set("a", big)])
    try:
        await store.update(Key("A", "B"), [Set("b", big)])
    except Exception as e:
        print("update-too-big", type(e), e)
    it = await store.get(Key("A", "B"))
    print(sorted(it))
