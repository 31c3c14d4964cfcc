-- Undoes 0003_projects_teams.sql, in reverse order.

DROP VIEW public.reachable_projects;
DROP TABLE public.invitations, public.team_projects, public.team_memberships, public.teams,
    public.projects;
DROP FUNCTION drift_private.guard_project_write();
DROP FUNCTION drift_private.guard_admin_write();
