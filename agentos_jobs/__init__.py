"""agentos_jobs: the command line of agentOS Jobs (``python -m agentos_jobs``), standard library only."""
