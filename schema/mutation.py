"""The Mutation root. Every mutation takes one ``input`` and returns its own result union:
its own success type and the typed errors it can produce, declared once below. The body
returns only the success; ``ExpectedFailures`` turns what it raises into a declared error,
and permission is declared on the field (a denial is returned as ``PermissionDenied``)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from datastore import records
from resolvers import analytics, membership, validation
from resolvers.context import Context
from schema import permissions
from schema.errors import (
    AlreadyExists,
    CannotSuspendSelf,
    EmailTaken,
    ExpectedFailures,
    GitHubRateLimited,
    GitHubUnavailable,
    GitHubUserNotFound,
    InvitationUnavailable,
    LastAdmin,
    MemberLimitReached,
    MemberNotActive,
    NotFound,
    OwnerProtected,
    PermissionDenied,
    ValidationError,
    VersionConflict,
)
from schema.inputs import (
    AcceptInvitationInput,
    ChangeMemberRoleInput,
    CreateOrganizationInput,
    DeleteOrganizationInput,
    GenerateTeamReportInput,
    InviteMemberInput,
    ReactivateMemberInput,
    RecordGitHubDataInput,
    RefreshGitHubDataInput,
    RemoveMemberInput,
    ResendInvitationInput,
    RevokeInvitationInput,
    SuspendMemberInput,
    TransferOwnershipInput,
    UpdateMemberInput,
    UpdateMyPreferencesInput,
    UpdateMyProfileInput,
    UpdateOrganizationSettingsInput,
)
from schema.types import GitHubData, Invitation, Member, Organization, TeamReport


def mutation(*, permission: type[permissions.Guarded] | None = None,
             description: str | None = None) -> Any:
    extensions: list[Any] = [ExpectedFailures()]
    if permission is not None:
        extensions.append(permissions.typed(permission))
    return strawberry.mutation(extensions=extensions, description=description)


def _ctx(info: strawberry.Info) -> Context:
    context: Context = info.context
    return context


# Success types, one per mutation


@strawberry.type
class CreateOrganizationSuccess:
    organization: Organization
    admin: Member


@strawberry.type
class UpdateOrganizationSettingsSuccess:
    organization: Organization


@strawberry.type
class InviteMemberSuccess:
    invitation: Invitation
    token: str = strawberry.field(description="Shown once; only its hash is stored.")
    refreshed: bool = strawberry.field(
        description="True when the email already had a pending invitation: that one got a "
                    "new token and expiry (its old token stopped working).")


@strawberry.type
class AcceptInvitationSuccess:
    member: Member


@strawberry.type
class RevokeInvitationSuccess:
    invitation: Invitation


@strawberry.type
class ChangeMemberRoleSuccess:
    member: Member


@strawberry.type
class RemoveMemberSuccess:
    member: Member = strawberry.field(description="The person as they were when removed.")


@strawberry.type
class UpdateMyPreferencesSuccess:
    member: Member


@strawberry.type
class ResendInvitationSuccess:
    invitation: Invitation
    token: str = strawberry.field(description="The new token, shown once; the old one no "
                                              "longer works.")


@strawberry.type
class SuspendMemberSuccess:
    member: Member


@strawberry.type
class ReactivateMemberSuccess:
    member: Member


@strawberry.type
class UpdateMemberSuccess:
    member: Member


@strawberry.type
class UpdateMyProfileSuccess:
    member: Member


@strawberry.type
class DeleteOrganizationSuccess:
    organization_id: strawberry.ID
    deleted_items: int = strawberry.field(
        description="How many items went: the organization, its people, invitations, "
                    "analytics, reports and activity.")


@strawberry.type
class TransferOwnershipSuccess:
    organization: Organization
    owner: Member


@strawberry.type
class RecordGitHubDataSuccess:
    github_data: GitHubData


@strawberry.type
class RefreshGitHubDataSuccess:
    git_hub_data: GitHubData
    changed: bool = strawberry.field(
        description="Whether the figures differ from those cached before (false also when "
                    "a refresh by another server process finished first and is returned).")


@strawberry.type
class GenerateTeamReportSuccess:
    team_report: TeamReport


# Result unions: a new error of a mutation is one edit here.

CreateOrganizationResult = Annotated[
    CreateOrganizationSuccess | AlreadyExists | ValidationError,
    strawberry.union("CreateOrganizationResult")]
UpdateOrganizationSettingsResult = Annotated[
    UpdateOrganizationSettingsSuccess | PermissionDenied | NotFound | VersionConflict
    | ValidationError,
    strawberry.union("UpdateOrganizationSettingsResult")]
InviteMemberResult = Annotated[
    InviteMemberSuccess | PermissionDenied | EmailTaken | ValidationError,
    strawberry.union("InviteMemberResult")]
AcceptInvitationResult = Annotated[
    AcceptInvitationSuccess | InvitationUnavailable | MemberLimitReached | AlreadyExists
    | EmailTaken | NotFound | ValidationError,
    strawberry.union("AcceptInvitationResult")]
RevokeInvitationResult = Annotated[
    RevokeInvitationSuccess | PermissionDenied | NotFound | InvitationUnavailable
    | ValidationError,
    strawberry.union("RevokeInvitationResult")]
ChangeMemberRoleResult = Annotated[
    ChangeMemberRoleSuccess | PermissionDenied | NotFound | LastAdmin | OwnerProtected
    | VersionConflict | ValidationError,
    strawberry.union("ChangeMemberRoleResult")]
RemoveMemberResult = Annotated[
    RemoveMemberSuccess | PermissionDenied | NotFound | LastAdmin | OwnerProtected
    | VersionConflict | ValidationError,
    strawberry.union("RemoveMemberResult")]
UpdateMyPreferencesResult = Annotated[
    UpdateMyPreferencesSuccess | PermissionDenied | NotFound | VersionConflict
    | ValidationError,
    strawberry.union("UpdateMyPreferencesResult")]
ResendInvitationResult = Annotated[
    ResendInvitationSuccess | PermissionDenied | NotFound | InvitationUnavailable
    | EmailTaken | ValidationError,
    strawberry.union("ResendInvitationResult")]
SuspendMemberResult = Annotated[
    SuspendMemberSuccess | PermissionDenied | NotFound | LastAdmin | OwnerProtected
    | CannotSuspendSelf | VersionConflict | ValidationError,
    strawberry.union("SuspendMemberResult")]
ReactivateMemberResult = Annotated[
    ReactivateMemberSuccess | PermissionDenied | NotFound | VersionConflict | ValidationError,
    strawberry.union("ReactivateMemberResult")]
UpdateMemberResult = Annotated[
    UpdateMemberSuccess | PermissionDenied | NotFound | VersionConflict | ValidationError,
    strawberry.union("UpdateMemberResult")]
UpdateMyProfileResult = Annotated[
    UpdateMyProfileSuccess | PermissionDenied | NotFound | VersionConflict | ValidationError,
    strawberry.union("UpdateMyProfileResult")]
TransferOwnershipResult = Annotated[
    TransferOwnershipSuccess | PermissionDenied | NotFound | MemberNotActive
    | VersionConflict | ValidationError,
    strawberry.union("TransferOwnershipResult")]
DeleteOrganizationResult = Annotated[
    DeleteOrganizationSuccess | PermissionDenied | NotFound | VersionConflict
    | ValidationError,
    strawberry.union("DeleteOrganizationResult")]
RecordGitHubDataResult = Annotated[
    RecordGitHubDataSuccess | PermissionDenied | ValidationError,
    strawberry.union("RecordGitHubDataResult")]
RefreshGitHubDataResult = Annotated[
    RefreshGitHubDataSuccess | PermissionDenied | NotFound | GitHubUnavailable
    | GitHubRateLimited | GitHubUserNotFound | ValidationError,
    strawberry.union("RefreshGitHubDataResult")]
GenerateTeamReportResult = Annotated[
    GenerateTeamReportSuccess | PermissionDenied | ValidationError,
    strawberry.union("GenerateTeamReportResult")]


@strawberry.type
class Mutation:
    @mutation(description="Create the organization named in your token; you become its "
                          "admin and owner. Its plan is the server's default plan; plans "
                          "change only by the operator (`devinsights set-plan`).")
    async def create_organization(self, info: strawberry.Info, input: CreateOrganizationInput
                                  ) -> CreateOrganizationResult:
        ctx = _ctx(info)
        org, admin = await membership.create_organization(ctx, input.name,
                                                          input.github_username)
        ctx.observe(member=admin, organization=org)
        return CreateOrganizationSuccess(organization=Organization.from_record(org),
                                         admin=Member.from_record(admin))

    @mutation(permission=permissions.CanManageSettings)
    async def update_organization_settings(
        self, info: strawberry.Info, input: UpdateOrganizationSettingsInput
    ) -> UpdateOrganizationSettingsResult:
        ctx = _ctx(info)
        name = input.name if isinstance(input.name, str) else None
        org = await membership.update_settings(ctx, input.expected_version, input.changes(),
                                               name)
        ctx.observe(organization=org)
        return UpdateOrganizationSettingsSuccess(organization=Organization.from_record(org))

    @mutation(permission=permissions.CanInvite,
              description="Returns the one-time token once; send it to the person. An email "
                          "with a pending invitation gets that invitation refreshed, not a "
                          "second one.")
    async def invite_member(self, info: strawberry.Info, input: InviteMemberInput
                            ) -> InviteMemberResult:
        started = records.now_ms()
        invitation, token = await membership.invite(
            _ctx(info), input.email, records.Role(input.role.value), input.name,
            input.github_username)
        # A refreshed invitation keeps its creation time; a new one is created after now.
        refreshed = invitation.created_at < started
        return InviteMemberSuccess(invitation=Invitation.from_record(invitation), token=token,
                                   refreshed=refreshed)

    @mutation(description="Join the organization in your token; your token's email must "
                          "match the invitation's.")
    async def accept_invitation(self, info: strawberry.Info, input: AcceptInvitationInput
                                ) -> AcceptInvitationResult:
        ctx = _ctx(info)
        member = await membership.accept_invitation(ctx, input.token)
        await ctx.refresh()
        return AcceptInvitationSuccess(member=Member.from_record(member))

    @mutation(permission=permissions.CanInvite)
    async def revoke_invitation(self, info: strawberry.Info, input: RevokeInvitationInput
                                ) -> RevokeInvitationResult:
        invite_id = validation.identifier(str(input.invitation_id), "invitationId")
        invitation = await membership.revoke_invitation(_ctx(info), invite_id)
        return RevokeInvitationSuccess(invitation=Invitation.from_record(invitation))

    @mutation(permission=permissions.CanManageSettings)
    async def change_member_role(self, info: strawberry.Info, input: ChangeMemberRoleInput
                                 ) -> ChangeMemberRoleResult:
        ctx = _ctx(info)
        user_id = validation.identifier(str(input.user_id), "userId")
        member = await membership.change_role(ctx, user_id, records.Role(input.role.value),
                                              input.expected_version)
        ctx.observe(member=member)
        return ChangeMemberRoleSuccess(member=Member.from_record(member))

    @mutation(permission=permissions.CanRemoveMembers)
    async def remove_member(self, info: strawberry.Info, input: RemoveMemberInput
                            ) -> RemoveMemberResult:
        user_id = validation.identifier(str(input.user_id), "userId")
        member = await membership.remove(_ctx(info), user_id, input.expected_version)
        return RemoveMemberSuccess(member=Member.from_record(member))

    @mutation(permission=permissions.IsMember)
    async def update_my_preferences(self, info: strawberry.Info,
                                    input: UpdateMyPreferencesInput
                                    ) -> UpdateMyPreferencesResult:
        ctx = _ctx(info)
        member = await membership.update_my_preferences(ctx, input.changes(),
                                                        input.expected_version)
        ctx.observe(member=member)
        return UpdateMyPreferencesSuccess(member=Member.from_record(member))

    @mutation(permission=permissions.CanWriteTeamData,
              description="Partner ingestion of one person's GitHub analytics (cached 24 h). "
                          "Needs the write_team_data permission, which admins hold: a "
                          "partner integration calls it with an admin's token.")
    async def record_git_hub_data(self, info: strawberry.Info, input: RecordGitHubDataInput
                                  ) -> RecordGitHubDataResult:
        username = validation.github_username(input.github_username)
        record = await analytics.record_github_data(
            _ctx(info), username, input.data(),
            validation.text(input.data_source, "dataSource", 100))
        return RecordGitHubDataSuccess(github_data=GitHubData.from_record(record))

    @mutation(permission=permissions.CanRefreshGitHubDataOf,
              description="Fetch a member's activity from GitHub now, compute their analytics "
                          "(docs/analytics.md) and cache them for 24 h. Yours as a member; "
                          "anyone's as an admin. Makes up to about 40 GitHub API calls and "
                          "can take seconds; the server also refreshes before expiry on its "
                          "own when so configured.")
    async def refresh_git_hub_data(self, info: strawberry.Info,
                                   input: RefreshGitHubDataInput | None = None
                                   ) -> RefreshGitHubDataResult:
        user_id = input.user_id if input else None
        target = validation.identifier(str(user_id), "userId") if user_id is not None \
            else None
        outcome = await analytics.refresh_github_data(_ctx(info), target)
        return RefreshGitHubDataSuccess(git_hub_data=GitHubData.from_record(outcome.data),
                                        changed=outcome.changed)

    @mutation(permission=permissions.CanGenerateReports,
              description="Compute the team report of a date (default today) from the "
                          "members' cached GitHub data.")
    async def generate_team_report(self, info: strawberry.Info,
                                   input: GenerateTeamReportInput | None = None
                                   ) -> GenerateTeamReportResult:
        date = input.date if input else None
        day = validation.report_date(date) if date else None
        report = await analytics.generate_team_report(_ctx(info), day)
        return GenerateTeamReportSuccess(team_report=TeamReport.from_record(report))

    @mutation(permission=permissions.CanInvite,
              description="A new token and expiry for a pending invitation (expired or not); "
                          "its old token stops working.")
    async def resend_invitation(self, info: strawberry.Info, input: ResendInvitationInput
                                ) -> ResendInvitationResult:
        invite_id = validation.identifier(str(input.invitation_id), "invitationId")
        invitation, token = await membership.resend_invitation(_ctx(info), invite_id)
        return ResendInvitationSuccess(invitation=Invitation.from_record(invitation),
                                       token=token)

    @mutation(permission=permissions.CanRemoveMembers,
              description="The person keeps their seat and role but can read and do nothing "
                          "(but see their own status) until reactivated.")
    async def suspend_member(self, info: strawberry.Info, input: SuspendMemberInput
                             ) -> SuspendMemberResult:
        user_id = validation.identifier(str(input.user_id), "userId")
        member = await membership.suspend(_ctx(info), user_id, input.expected_version)
        return SuspendMemberSuccess(member=Member.from_record(member))

    @mutation(permission=permissions.CanRemoveMembers)
    async def reactivate_member(self, info: strawberry.Info, input: ReactivateMemberInput
                                ) -> ReactivateMemberResult:
        user_id = validation.identifier(str(input.user_id), "userId")
        member = await membership.reactivate(_ctx(info), user_id, input.expected_version)
        return ReactivateMemberSuccess(member=Member.from_record(member))

    @mutation(permission=permissions.IsAdmin,
              description="An admin changes a person's name or GitHub username.")
    async def update_member(self, info: strawberry.Info, input: UpdateMemberInput
                            ) -> UpdateMemberResult:
        ctx = _ctx(info)
        user_id = validation.identifier(str(input.user_id), "userId")
        member = await membership.update_member(ctx, user_id, input.name,
                                                input.github_username, input.expected_version)
        ctx.observe(member=member)
        return UpdateMemberSuccess(member=Member.from_record(member))

    @mutation(permission=permissions.IsMember)
    async def update_my_profile(self, info: strawberry.Info, input: UpdateMyProfileInput
                                ) -> UpdateMyProfileResult:
        ctx = _ctx(info)
        member = await membership.update_my_profile(ctx, input.name, input.github_username,
                                                    input.expected_version)
        ctx.observe(member=member)
        return UpdateMyProfileSuccess(member=Member.from_record(member))

    @mutation(permission=permissions.IsMember,
              description="The owner hands the organization to another active member.")
    async def transfer_ownership(self, info: strawberry.Info, input: TransferOwnershipInput
                                 ) -> TransferOwnershipResult:
        ctx = _ctx(info)
        user_id = validation.identifier(str(input.user_id), "userId")
        org, owner = await membership.transfer_ownership(ctx, user_id, input.expected_version)
        ctx.observe(member=owner, organization=org)
        return TransferOwnershipSuccess(organization=Organization.from_record(org),
                                        owner=Member.from_record(owner))

    @mutation(permission=permissions.IsAdmin,
              description="Delete your organization and everything in it: its people, "
                          "invitations, analytics, reports and activity. Confirm by typing "
                          "its name. Cannot be undone; an interrupted deletion finishes when "
                          "run again.")
    async def delete_organization(self, info: strawberry.Info, input: DeleteOrganizationInput
                                  ) -> DeleteOrganizationResult:
        ctx = _ctx(info)
        org_id = ctx.acting().org_id
        deleted = await membership.delete_organization(ctx, input.confirm_name)
        return DeleteOrganizationSuccess(organization_id=strawberry.ID(org_id),
                                         deleted_items=deleted)
