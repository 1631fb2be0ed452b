"""DRS recommendations as records: proposed, approved, applied with the imbalance measured
after; superseded, expired and rejected ones start nothing."""

from datetime import timedelta

import pytest

from compute.models import Instance
from portal.errors import Conflict
from scheduler import choices as c
from scheduler.models import Recommendation
from scheduler.services import recommendations
from scheduler.tasks import recommendations as applying

RS = c.RecommendationState


@pytest.fixture
def imbalanced(hosts, make_instance):
    """Four 16 GiB running instances on host-a, nothing elsewhere."""
    host_a = hosts[0]
    return [make_instance(host_a, f"web-{n}") for n in range(4)]


def test_a_run_proposes_moves_with_their_expected_benefit(cluster, imbalanced):
    outcome = recommendations.run_drs(cluster)
    rec = outcome.recommendation
    assert rec.state == RS.PROPOSED and rec.kind == c.RecommendationKind.DRS
    assert rec.moves and all(m["source_name"] == "host-a" for m in rec.moves)
    assert rec.expected_benefit > 0
    assert rec.imbalance_predicted < rec.imbalance_before
    assert rec.imbalance_after is None  # nothing measured before it is applied


def test_approving_applies_the_moves_and_measures_the_imbalance_after(
    cluster, imbalanced, admin_user, fake_migrations, run_tasks
):
    rec = recommendations.run_drs(cluster).recommendation
    with run_tasks():
        recommendations.approve(admin_user, rec)
    rec.refresh_from_db()
    assert rec.state == RS.APPLIED, rec.error
    assert rec.decided_by == admin_user and not rec.automatic
    assert rec.operations.count() == len(rec.moves)
    moved = {m["instance"]: m["target"] for m in rec.moves}
    for pk, target in moved.items():
        assert str(Instance.objects.get(pk=pk).host_id) == target
    assert rec.imbalance_after == pytest.approx(applying.measure_imbalance(cluster))
    assert rec.imbalance_after < rec.imbalance_before


def test_a_failed_migration_fails_the_recommendation_with_its_reason(
    cluster, imbalanced, admin_user, fake_migrations, run_tasks
):
    rec = recommendations.run_drs(cluster).recommendation
    fake_migrations.failing.add(int(rec.moves[0]["instance"]))
    with run_tasks():
        recommendations.approve(admin_user, rec)
    rec.refresh_from_db()
    assert rec.state == RS.FAILED
    assert "simulated migration failure" in rec.error
    assert rec.imbalance_after is not None


def test_a_new_run_supersedes_the_open_proposal(cluster, imbalanced):
    first = recommendations.run_drs(cluster).recommendation
    second = recommendations.run_drs(cluster).recommendation
    first.refresh_from_db()
    assert first.state == RS.SUPERSEDED and second.state == RS.PROPOSED


def test_a_proposal_whose_instance_moved_meanwhile_is_superseded_on_approval(
    cluster, hosts, imbalanced, admin_user, fake_migrations
):
    rec = recommendations.run_drs(cluster).recommendation
    Instance.objects.filter(pk=rec.moves[0]["instance"]).update(host=hosts[2])
    with pytest.raises(Conflict, match="superseded"):
        recommendations.approve(admin_user, rec)
    rec.refresh_from_db()
    assert rec.state == RS.SUPERSEDED
    assert fake_migrations.calls == []


def test_an_old_proposal_expires_and_cannot_be_approved(cluster, imbalanced, admin_user, fake_migrations):
    rec = recommendations.run_drs(cluster).recommendation
    ttl = rec.cluster.scheduler_settings.recommendation_ttl_s
    Recommendation.objects.filter(pk=rec.pk).update(created=rec.created - timedelta(seconds=ttl + 1))
    with pytest.raises(Conflict, match="expired"):
        recommendations.approve(admin_user, rec)
    rec.refresh_from_db()
    assert rec.state == RS.EXPIRED
    assert fake_migrations.calls == []


def test_the_sweep_expires_old_proposals(cluster, imbalanced):
    rec = recommendations.run_drs(cluster).recommendation
    Recommendation.objects.filter(pk=rec.pk).update(created=rec.created - timedelta(days=1))
    recommendations.sweep()
    rec.refresh_from_db()
    assert rec.state == RS.EXPIRED


def test_a_rejected_proposal_starts_nothing_and_cannot_be_approved_later(
    cluster, imbalanced, admin_user, fake_migrations
):
    rec = recommendations.run_drs(cluster).recommendation
    recommendations.reject(admin_user, rec)
    rec.refresh_from_db()
    assert rec.state == RS.REJECTED and rec.decided_by == admin_user
    with pytest.raises(Conflict):
        recommendations.approve(admin_user, rec)
    assert fake_migrations.calls == []


def test_full_automation_applies_without_a_person(cluster, imbalanced, fake_migrations, run_tasks):
    recommendations.update_settings(None, cluster, drs_automation=c.Automation.FULL)
    with run_tasks():
        rec = recommendations.run_drs(cluster).recommendation
    rec.refresh_from_db()
    assert rec.state == RS.APPLIED and rec.automatic and rec.decided_by is None


def test_a_balanced_cluster_gets_no_recommendation(cluster, hosts, make_instance):
    for host in hosts:
        make_instance(host, f"vm-{host.name}", ram_gb=8)
    outcome = recommendations.run_drs(cluster)
    assert outcome.recommendation is None
    assert "No moves" in outcome.message


def test_recently_applied_moves_are_not_bounced_back(
    cluster, hosts, imbalanced, admin_user, fake_migrations, run_tasks, make_instance
):
    rec = recommendations.run_drs(cluster).recommendation
    with run_tasks():
        recommendations.approve(admin_user, rec)
    moved = {m["instance"] for m in rec.moves}
    # A new load on the targets would invite moving the same instances back: hysteresis says no.
    for host in hosts[1:]:
        make_instance(host, f"big-{host.name}", ram_gb=40)
    again = recommendations.run_drs(cluster).recommendation
    assert again is None or not moved & {m["instance"] for m in again.moves}
