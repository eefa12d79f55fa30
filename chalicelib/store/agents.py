"""Who the agents are, as the tables know them: the agents that have jobs, an agent's jobs, and
its limits item (``agent#<id>``: slots held, runs waiting, its UTC day's usage).

The agents that have jobs are found by a skip-scan of the ``list`` index (sorted by
``<agentId>#<jobId>`` within each status): one Query of one key per agent and status, jumping
past each agent's range, so finding them costs O(agents), not O(jobs).
"""
from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, PynamoDBException

from ..errors import StoreUnavailable
from .listing import STATUS_ORDER, JobLister
from .models import AgentModel, JobModel, agent_item_id

PAGE = 1000  # jobs per list page while reading one agent's jobs
AFTER_RANGE = "$"  # the character after "#": a key above every "<agentId>#..." of that agent


class AgentDirectory:
    """The agents seen through the jobs table (given its models)."""

    def __init__(self, model: type[JobModel] = JobModel, items: type[AgentModel] = AgentModel) -> None:
        self.model = model
        self.items = items
        self.lister = JobLister(model)

    def ids_with_jobs(self) -> set[str]:
        """Every agent id that has a job (any status)."""
        found: set[str] = set()
        try:
            for status in STATUS_ORDER:
                found |= self._skip_scan(status)
        except PynamoDBException as exc:
            raise StoreUnavailable("jobs table unavailable while listing agents; retry later") from exc
        return found

    def _skip_scan(self, status: str) -> set[str]:
        agents: set[str] = set()
        condition = None
        while True:
            entries = list(self.model.listing.query(status, condition, limit=1, page_size=1))
            if not entries:
                return agents
            agent = str(entries[0].listKey).split("#", 1)[0]
            agents.add(agent)
            condition = self.model.listKey > f"{agent}{AFTER_RANGE}"

    def jobs_of(self, agent_id: str) -> list[JobModel]:
        """Every job of ``agent_id`` (the list index's ranges of that agent, then the jobs)."""
        jobs: list[JobModel] = []
        cursor = None
        while True:
            page = self.lister.page(None, agent_id, PAGE, cursor)
            jobs += page.jobs
            if page.following is None:
                return jobs
            cursor = page.following

    def item(self, agent_id: str) -> AgentModel | None:
        """The agent's limits item, if it has one (only limited agents do)."""
        try:
            return self.items.get(agent_item_id(agent_id), consistent_read=True)
        except DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StoreUnavailable("jobs table unavailable while reading an agent; retry later") from exc
