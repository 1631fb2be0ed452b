from scheduler.core import evc
from scheduler.core.evc import CpuModel

HOSTS = {
    "new": frozenset({"sse4.2", "avx", "avx2", "aes"}),
    "mid": frozenset({"sse4.2", "avx", "aes"}),
    "old": frozenset({"sse4.2", "aes"}),
}
MODELS = (
    CpuModel("Westmere", frozenset({"sse4.2", "aes"})),
    CpuModel("SandyBridge", frozenset({"sse4.2", "aes", "avx"})),
    CpuModel("Haswell", frozenset({"sse4.2", "aes", "avx", "avx2"})),
)


def test_the_baseline_is_what_every_host_has():
    assert evc.common_features(HOSTS) == frozenset({"sse4.2", "aes"})
    assert evc.common_features({}) == frozenset()


def test_it_picks_the_richest_named_model_all_hosts_can_provide():
    assert evc.pick_baseline(HOSTS, MODELS).name == "Westmere"
    without_old = {k: v for k, v in HOSTS.items() if k != "old"}
    assert evc.pick_baseline(without_old, MODELS).name == "SandyBridge"


def test_it_falls_back_to_the_raw_intersection_without_a_fitting_model():
    baseline = evc.pick_baseline(HOSTS, (MODELS[2],))

    assert baseline.name == evc.CUSTOM_BASELINE
    assert baseline.features == frozenset({"sse4.2", "aes"})


def test_a_host_lacking_baseline_features_cannot_join():
    haswell = MODELS[2]

    verdict = evc.check_host(HOSTS["mid"], haswell)

    assert not verdict.compatible
    assert verdict.reason == "host lacks avx2"
    assert evc.check_host(HOSTS["new"], haswell).compatible
    assert evc.hosts_blocking(HOSTS, haswell) == {"mid": frozenset({"avx2"}), "old": frozenset({"avx", "avx2"})}
