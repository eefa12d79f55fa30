"""The IAM policy a person or CI role needs to run ``make deploy`` for one stage.

``python -m infra.deployer <stage> <artifacts bucket>`` prints it.
CloudFormation creates every resource with the deployer's own credentials (no service role),
so the policy names the actions for each resource type the packaged template holds (the SAM
transform's too), scoped to the stage's names where the service allows it. tests/test_infra.py
checks that every resource type of the packaged template is covered here.
"""
from __future__ import annotations

import json
import sys
from typing import Any

from infra.iam import statement

APP = "agentos-jobs"
# The actions CloudFormation calls to create, update and delete each resource type (and read it back).
RESOURCE_ACTIONS: dict[str, list[str]] = {
    "AWS::Serverless::Function": [],  # the SAM transform's: the Lambda types below
    "AWS::Serverless::Api": [],  # the SAM transform's: the API Gateway types below
    "AWS::Lambda::Function": ["lambda:CreateFunction", "lambda:UpdateFunctionCode",
                              "lambda:UpdateFunctionConfiguration", "lambda:GetFunction",
                              "lambda:GetFunctionConfiguration", "lambda:DeleteFunction",
                              "lambda:TagResource", "lambda:UntagResource", "lambda:ListTags"],
    "AWS::Lambda::Permission": ["lambda:AddPermission", "lambda:RemovePermission"],
    "AWS::Lambda::EventSourceMapping": ["lambda:CreateEventSourceMapping", "lambda:UpdateEventSourceMapping",
                                        "lambda:GetEventSourceMapping", "lambda:DeleteEventSourceMapping"],
    "AWS::Events::Rule": ["events:PutRule", "events:PutTargets", "events:DescribeRule", "events:RemoveTargets",
                          "events:DeleteRule"],
    "AWS::ApiGateway::RestApi": ["apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH",
                                 "apigateway:DELETE"],
    "AWS::ApiGateway::Deployment": [],  # the same apigateway actions
    "AWS::ApiGateway::Stage": [],
    "AWS::IAM::Role": ["iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:PutRolePolicy", "iam:GetRolePolicy",
                       "iam:DeleteRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PassRole",
                       "iam:TagRole"],
    "AWS::DynamoDB::Table": ["dynamodb:CreateTable", "dynamodb:UpdateTable", "dynamodb:DescribeTable",
                             "dynamodb:DeleteTable", "dynamodb:UpdateTimeToLive", "dynamodb:DescribeTimeToLive",
                             "dynamodb:UpdateContinuousBackups", "dynamodb:DescribeContinuousBackups",
                             "dynamodb:TagResource", "dynamodb:ListTagsOfResource"],
    "AWS::SQS::Queue": ["sqs:CreateQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes", "sqs:GetQueueUrl",
                        "sqs:DeleteQueue", "sqs:TagQueue", "sqs:ListQueueTags"],
    "AWS::Logs::LogGroup": ["logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DeleteLogGroup",
                            "logs:DescribeLogGroups", "logs:TagResource"],
    "AWS::CloudWatch::Alarm": ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
    "AWS::CloudWatch::Dashboard": ["cloudwatch:PutDashboard", "cloudwatch:GetDashboard",
                                   "cloudwatch:DeleteDashboards"],
    "AWS::SNS::Topic": ["sns:CreateTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:DeleteTopic",
                        "sns:TagResource"],
    "AWS::SNS::Subscription": ["sns:Subscribe", "sns:Unsubscribe", "sns:GetSubscriptionAttributes"],
}


def policy(stage: str, bucket: str) -> dict[str, Any]:
    """The deployer's policy document for ``stage``, with the code zip in ``bucket``."""
    prefix = f"{APP}-{stage}"
    actions = sorted({action for group in RESOURCE_ACTIONS.values() for action in group})
    return {"Version": "2012-10-17", "Statement": [
        statement("Stack", ["cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet",
                            "cloudformation:DescribeChangeSet", "cloudformation:DescribeStacks",
                            "cloudformation:DescribeStackEvents", "cloudformation:GetTemplateSummary",
                            "cloudformation:CreateStack", "cloudformation:UpdateStack"],
                  [f"arn:aws:cloudformation:*:*:stack/{prefix}/*",
                   "arn:aws:cloudformation:*:aws:transform/Serverless-2016-10-31"]),
        statement("CodeZip", ["s3:PutObject", "s3:GetObject"], [f"arn:aws:s3:::{bucket}/{APP}/{stage}/*"]),
        statement("CheckParameters", ["ssm:DescribeParameters"], ["*"]),
        # What CloudFormation creates with the deployer's credentials. Most services cannot be
        # scoped to names that do not exist yet without wildcards; the stack's names all start
        # with the prefix, and the roles Chalice names after the app.
        statement("StackResources", actions, ["*"]),
    ]}


def main(argv: list[str]) -> int:
    """Print the policy for ``<stage> <bucket>``."""
    if len(argv) != 2:
        print("usage: python -m infra.deployer <stage> <artifacts bucket>", file=sys.stderr)
        return 2
    print(json.dumps(policy(argv[0], argv[1]), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
