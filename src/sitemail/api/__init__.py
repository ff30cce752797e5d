"""The GraphQL API: schema per area, thin resolvers over the services."""
