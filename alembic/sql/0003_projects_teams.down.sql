-- Undoes 0003_projects_teams.sql, in reverse order.

DROP VIEW public.reachable_projects;
DROP TABLE public.invitations;
DROP TABLE public.team_projects;
DROP TABLE public.team_memberships;
DROP TABLE public.teams;
DROP TABLE public.projects;
DROP FUNCTION drift_private.guard_project_write();
DROP FUNCTION drift_private.guard_admin_write();
