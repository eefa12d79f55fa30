"""The store floor: DynamoDB and SQS (the models, the tables' wrappers, the queue) and AWS clients.

It imports only the base, never the engine or the API (``make lint``'s import contract, pyproject.toml).
"""
