"""Teams: CRUD, memberships (lead/member) and project assignments."""
