"""The Mutation root. Each mutation returns a union of its success and its typed errors;
permission is declared on the field and a denial is returned as ``PermissionDenied``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import strawberry

from datastore import records
from datastore.errors import DomainError
from resolvers import analytics, membership, validation
from schema import errors, permissions
from schema.errors import (
    AlreadyExists,
    EmailTaken,
    InvitationUnavailable,
    LastAdmin,
    MemberLimitReached,
    NotFound,
    PermissionDenied,
    ValidationError,
    VersionConflict,
)
from schema.inputs import (
    InviteMemberInput,
    PreferencesInput,
    RecordGitHubDataInput,
    UpdateOrganizationSettingsInput,
)
from schema.types import GitHubData, Invitation, Member, Organization, Role, TeamReport

S = TypeVar("S")


async def attempt(run: Callable[[], Awaitable[S]]) -> S | errors.Error:
    """Run a mutation body; expected failures come back as typed errors."""
    try:
        return await run()
    except DomainError as exc:
        return errors.from_domain(exc)
    except validation.InputInvalid as exc:
        return errors.invalid(exc.field, str(exc))


def _ctx(info: strawberry.Info) -> Any:
    return info.context


@strawberry.type
class CreateOrganizationSuccess:
    organization: Organization
    admin: Member


@strawberry.type
class OrganizationSuccess:
    organization: Organization


@strawberry.type
class InviteMemberSuccess:
    invitation: Invitation
    token: str = strawberry.field(description="Shown once; only its hash is stored.")


@strawberry.type
class InvitationSuccess:
    invitation: Invitation


@strawberry.type
class MemberSuccess:
    member: Member


@strawberry.type
class GitHubDataSuccess:
    github_data: GitHubData


@strawberry.type
class TeamReportSuccess:
    team_report: TeamReport


CreateOrganizationResult = Annotated[
    CreateOrganizationSuccess | AlreadyExists | ValidationError,
    strawberry.union("CreateOrganizationResult")]
UpdateOrganizationSettingsResult = Annotated[
    OrganizationSuccess | PermissionDenied | NotFound | VersionConflict | ValidationError,
    strawberry.union("UpdateOrganizationSettingsResult")]
InviteMemberResult = Annotated[
    InviteMemberSuccess | PermissionDenied | EmailTaken | ValidationError,
    strawberry.union("InviteMemberResult")]
AcceptInvitationResult = Annotated[
    MemberSuccess | InvitationUnavailable | MemberLimitReached | AlreadyExists | EmailTaken
    | NotFound | ValidationError,
    strawberry.union("AcceptInvitationResult")]
RevokeInvitationResult = Annotated[
    InvitationSuccess | PermissionDenied | NotFound | InvitationUnavailable
    | ValidationError,
    strawberry.union("RevokeInvitationResult")]
ChangeMemberRoleResult = Annotated[
    MemberSuccess | PermissionDenied | NotFound | LastAdmin | VersionConflict
    | ValidationError,
    strawberry.union("ChangeMemberRoleResult")]
RemoveMemberResult = Annotated[
    MemberSuccess | PermissionDenied | NotFound | LastAdmin | VersionConflict
    | ValidationError,
    strawberry.union("RemoveMemberResult")]
UpdateMyPreferencesResult = Annotated[
    MemberSuccess | PermissionDenied | NotFound | VersionConflict | ValidationError,
    strawberry.union("UpdateMyPreferencesResult")]
RecordGitHubDataResult = Annotated[
    GitHubDataSuccess | PermissionDenied | ValidationError,
    strawberry.union("RecordGitHubDataResult")]
GenerateTeamReportResult = Annotated[
    TeamReportSuccess | PermissionDenied | ValidationError,
    strawberry.union("GenerateTeamReportResult")]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create the organization named in your token; you "
                                     "become its admin.")
    async def create_organization(self, info: strawberry.Info, name: str,
                                  plan: str = "free", github_username: str | None = None
                                  ) -> CreateOrganizationResult:
        async def run() -> CreateOrganizationSuccess:
            org, admin = await membership.create_organization(_ctx(info), name, plan,
                                                              github_username)
            return CreateOrganizationSuccess(organization=Organization.from_record(org),
                                             admin=Member.from_record(admin))
        return await attempt(run)  # type: ignore[return-value]

    @strawberry.mutation(extensions=[permissions.typed(permissions.CanManageSettings)])
    async def update_organization_settings(
        self, info: strawberry.Info, input: UpdateOrganizationSettingsInput
    ) -> UpdateOrganizationSettingsResult:
        async def run() -> OrganizationSuccess:
            name = input.name if isinstance(input.name, str) else None
            org = await membership.update_settings(_ctx(info), input.expected_version,
                                                   input.changes(), name)
            return OrganizationSuccess(organization=Organization.from_record(org))
        return await attempt(run)  # type: ignore[return-value]

    @strawberry.mutation(extensions=[permissions.typed(permissions.CanInvite)],
                         description="Returns the one-time token once; send it to the person.")
    async def invite_member(self, info: strawberry.Info, input: InviteMemberInput
                            ) -> InviteMemberResult:
        async def run() -> InviteMemberSuccess:
            invitation, token = await membership.invite(
                _ctx(info), input.email, records.Role(input.role.value), input.name,
                input.github_username)
            return InviteMemberSuccess(invitation=Invitation.from_record(invitation),
                                       token=token)
        return await attempt(run)  # type: ignore[return-value]

    @strawberry.mutation(description="Join the organization in your token; your token's "
                                     "email must match the invitation's.")
    async def accept_invitation(self, info: strawberry.Info, token: str
                                ) -> AcceptInvitationResult:
        async def run() -> MemberSuccess:
            member = await membership.accept_invitation(_ctx(info), token)
            return MemberSuccess(member=Member.from_record(member))
        return await attempt(run)  # type: ignore[return-value]

    @strawberry.mutation(extensions=[permissions.typed(permissions.CanInvite)])
    async def revoke_invitation(self, info: strawberry.Info, id: strawberry.ID
                                ) -> RevokeInvitationResult:
        async def run() -> InvitationSuccess:
            invitation = await membership.revoke_invitation(_ctx(info), str(id))
            return InvitationSuccess(invitation=Invitation.from_record(invitation))
        return await attempt(run)  # type: ignore[return-value]

    @strawberry.mutation(extensions=[permissions.typed(permissions.CanManageSettings)])
    async def change_member_role(self, info: strawberry.Info, user_id: strawberry.ID,
                                 role: Role, expected_version: int | None = None
                                 ) -> ChangeMemberRoleResult:
        async def run() -> MemberSuccess:
            member = await membership.change_role(_ctx(info), str(user_id),
                                                  records.Role(role.value), expected_version)
            return MemberSuccess(member=Member.from_record(member))
        return await attempt(run)  # type: ignore[return-value]

    @strawberry.mutation(extensions=[permissions.typed(permissions.CanRemoveMembers)])
    async def remove_member(self, info: strawberry.Info, user_id: strawberry.ID
                            ) -> RemoveMemberResult:
        async def run() -> MemberSuccess:
            member = await membership.remove(_ctx(info), str(user_id))
            return MemberSuccess(member=Member.from_record(member))
        return await attempt(run)  # type: ignore[return-value]

    @strawberry.mutation(extensions=[permissions.typed(permissions.IsMember)])
    async def update_my_preferences(self, info: strawberry.Info, input: PreferencesInput
                                    ) -> UpdateMyPreferencesResult:
        async def run() -> MemberSuccess:
            member = await membership.update_my_preferences(_ctx(info), input.changes(),
                                                            input.expected_version)
            return MemberSuccess(member=Member.from_record(member))
        return await attempt(run)  # type: ignore[return-value]

    @strawberry.mutation(extensions=[permissions.typed(permissions.CanRecordGitHubData)],
                         description="Partner ingestion of one person's GitHub analytics "
                                     "(cached 24 h).")
    async def record_git_hub_data(self, info: strawberry.Info, input: RecordGitHubDataInput
                                  ) -> RecordGitHubDataResult:
        async def run() -> GitHubDataSuccess:
            username = validation.github_username(input.github_username)
            record = await analytics.record_github_data(
                _ctx(info), username, input.data(),
                validation.text(input.data_source, "dataSource", 100))
            return GitHubDataSuccess(github_data=GitHubData.from_record(record))
        return await attempt(run)  # type: ignore[return-value]

    @strawberry.mutation(extensions=[permissions.typed(permissions.CanGenerateReports)],
                         description="Compute the team report of a date (default today) from "
                                     "the members' cached GitHub data.")
    async def generate_team_report(self, info: strawberry.Info, date: str | None = None
                                   ) -> GenerateTeamReportResult:
        async def run() -> TeamReportSuccess:
            day = validation.report_date(date) if date else None
            report = await analytics.generate_team_report(_ctx(info), day)
            return TeamReportSuccess(team_report=TeamReport.from_record(report))
        return await attempt(run)  # type: ignore[return-value]
