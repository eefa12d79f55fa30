"""A discrete-event model of the deployed scheduler (issue 28): tick, SQS, the Lambda event
source, the executor, DynamoDB. Calibrated against the local stack's measured lateness, then run
with AWS's documented limits (:mod:`.assumptions`). ``python -m bench.aws_model`` prints its JSON.
"""
