"""agentOS Jobs: a serverless scheduler for AI agents (Chalice + DynamoDB + SQS)."""
