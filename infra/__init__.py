"""Deployment of agentOS Jobs: the CloudFormation resources Chalice does not create.

``resources`` defines the tables and queues (from the PynamoDB models), ``provision``
deploys them into any CloudFormation endpoint (moto locally), ``merge_template`` and
``iam`` add what ``chalice package --merge-template`` needs, ``package`` builds the
deployable template offline.
"""
