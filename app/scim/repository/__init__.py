"""All SQL of the SCIM domain: users and groups as SCIM resources, filters and sorting
translated to parameterised SQL, tokens and group mappings."""
