"""The product package: region rules, schemas and adapters shared by the functions (SCF layer)."""
