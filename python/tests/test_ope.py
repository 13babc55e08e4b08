"""Off-policy evaluation from Python: estimates from a logged day against the simulator's online
truth, clear errors, and the per-step estimators against Open Bandit Pipeline on the same arrays
(where obp is installed)."""

import numpy as np
import pytest

import botify

EPS_STICKY = {"type": "epsilon", "epsilon": 0.5, "inner": {"type": "sticky_artist"}}
LOGGING = {"type": "epsilon", "epsilon": 0.3, "inner": {"type": "sticky_artist"}}


def test_a_nearby_policy_is_estimated_close_to_its_online_truth(world, tmp_path):
    logged = botify.simulate(world, {"C": LOGGING}, episodes=4_000, seed=3, log_dir=tmp_path / "log")
    assert logged.log_dir is not None
    df = botify.ope(logged.log_dir, world, EPS_STICKY)
    assert list(df["estimator"])[0] == "dr"
    assert {"estimate", "lower", "upper", "ess", "step_estimate"} <= set(df.columns)
    d = df.attrs["diagnostics"]
    assert d["sessions"] == 4_000 and d["support"] == 1.0
    truth = botify.simulate(world, {"C": EPS_STICKY}, episodes=20_000, seed=4, log_dir=False)
    # The first track (listened fully) and the recommended ones, as the log counts a session.
    online = 1.0 + float(truth.episodes["reward"].mean())
    dr = df.set_index("estimator").loc["dr"]
    assert abs(dr["estimate"] - online) < 0.1 * online, (dr.to_dict(), online)


def test_bad_inputs_name_the_problem(world, tmp_path):
    class Mine:
        def recommend_next(self, user, prev_track, prev_track_time):
            return (prev_track + 1) % world.n_tracks

    plain = botify.simulate(world, {"C": Mine()}, episodes=200, log_dir=tmp_path / "py")
    with pytest.raises(botify.BotifyError, match="propensity"):
        botify.ope(plain.log_dir, world, "sticky_artist")
    logged = botify.simulate(world, {"C": LOGGING}, episodes=200, log_dir=tmp_path / "log")
    with pytest.raises(botify.BotifyError, match="not a Python object"):
        botify.ope(logged.log_dir, world, Mine())
    with pytest.raises(botify.BotifyError, match="epsilon"):
        botify.ope(logged.log_dir, world, {"type": "epsilon", "epsilon": 2.0,
                                           "inner": {"type": "random"}})


def test_per_step_estimators_match_open_bandit_pipeline():
    obp = pytest.importorskip("obp.ope")
    rng = np.random.default_rng(0)
    n, k = 500, 6
    action_dist = rng.dirichlet(np.ones(k), size=n)[:, :, None]
    logging = rng.dirichlet(np.ones(k), size=n)
    action = np.array([rng.choice(k, p=p) for p in logging])
    pscore = logging[np.arange(n), action]
    reward = rng.random(n)
    q_hat = rng.random((n, k, 1))
    position = np.zeros(n, dtype=int)
    weight = action_dist[np.arange(n), action, 0] / pscore
    q = q_hat[np.arange(n), action, 0]
    v = (action_dist[:, :, 0] * q_hat[:, :, 0]).sum(axis=1)
    ours = {name: est for name, est, _, _ in botify._botify.ope_steps(
        reward.tolist(), weight.tolist(), q.tolist(), v.tolist(), 1e9)}
    common = dict(reward=reward, action=action, position=position, pscore=pscore,
                  action_dist=action_dist)
    theirs = {
        "pdis": obp.InverseProbabilityWeighting().estimate_policy_value(**common),
        "pdis_sn": obp.SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**common),
        "dm": obp.DirectMethod().estimate_policy_value(
            position=position, action_dist=action_dist, estimated_rewards_by_reg_model=q_hat),
        "dr": obp.DoublyRobust().estimate_policy_value(
            **common, estimated_rewards_by_reg_model=q_hat),
    }
    for name, value in theirs.items():
        assert abs(ours[name] - value) < 1e-9, (name, ours[name], value)
