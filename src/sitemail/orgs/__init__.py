"""Organizations, their members, and invitations to join an organization or the instance."""
