"""Hardening (issue 18): schemathesis' stateful phase. Its state machine chains operations through
links it infers from the schema (dependency analysis: a create's answer feeds the id of the
item, action and delete operations of the same resource; an Operation's id feeds /operations/{id}/),
so a run reaches the states a single call cannot: a resource made, then read, changed, acted on,
deleted. Same data, users and checks as tests/portal/test_schemathesis.py; each scenario rolled
back. Bounded: a fixed number of scenarios of a few steps, fixed seed."""

import copy
import json
from collections import Counter

import hypothesis
import pytest
import schemathesis
from django.db import transaction
from drf_spectacular.generators import SchemaGenerator
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.stateful import run_state_machine_as_test

from tests.portal.test_schemathesis import CONFIG, SEED, bearer, existing_ids, seeded  # noqa: F401

SCENARIOS = 15  # per user
STEPS = 5  # at most, per scenario
# Resources a generated body can create (no other row to name first), and the operations their
# answers link to: where scenarios get past the first call. The fuzzing module covers the rest.
CHAINS = r"^/api/v1/(server-groups|tokens|alarm-rules|flavors|clusters|projects|operations)/"
pytestmark = pytest.mark.django_db


def stateful_schema():
    from portal.wsgi import application

    config = copy.deepcopy(CONFIG)
    # valid inputs: a scenario goes on only from a 2xx (the fuzzing module covers invalid ones)
    config["phases"]["stateful"] = {"enabled": True, "max-steps": STEPS, "generation": {"mode": "positive"}}
    raw = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))
    schema = schemathesis.openapi.from_dict(raw, config=SchemathesisConfig.from_dict(config))
    schema.app = application
    schema.hook("flatmap_path_parameters")(existing_ids)
    return schema.include(path_regex=CHAINS)


def run_scenarios(username):
    """Run the state machine as `username`; returns what it did (for the assertions)."""
    schema = stateful_schema()
    headers = bearer(username)
    seen = Counter()

    class Scenarios(schema.as_state_machine()):
        def setup(self):
            self.savepoint = transaction.atomic()
            self.savepoint.__enter__()

        def teardown(self):
            transaction.set_rollback(True)
            self.savepoint.__exit__(None, None, None)

        def get_call_kwargs(self, case):
            return {"headers": headers}

        def step(self, input):
            seen["linked" if input.transition is not None and input.is_applied else "first"] += 1
            output = super().step(input)
            seen[f"{output.response.status_code // 100}xx"] += 1
            return output

    run_state_machine_as_test(
        Scenarios,
        settings=hypothesis.settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            derandomize=True,  # with SEED in CONFIG: the same scenarios every run
            suppress_health_check=list(hypothesis.HealthCheck),
        ),
    )
    return schema, seen


@pytest.mark.parametrize("username", ["alice", "admin"])
def test_api_stateful_scenarios(seeded, username):
    schema, seen = run_scenarios(username)
    print(f"stateful as {username}: {dict(seen)}, {schema.statistic.transitions.total} links")
    assert schema.statistic.transitions.total > 100, schema.statistic.transitions  # inferred links
    # the machine followed links (a create's id into the next call), and some reached a 2xx
    assert seen["linked"] > 0 and seen["2xx"] > 0, seen
