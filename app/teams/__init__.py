"""Teams capability: teams, project access, invitations, members/seats and ownership.

Sub-packages: teams (teams, memberships, team projects), invitations, members (seats),
ownership. access.py and seats.py are the rules other capabilities call (projects, SCIM).
"""
