from recipes.evaluate.stats import bootstrap, paired_change


def test_bootstrap_mean_and_interval():
    est = bootstrap([1.0] * 30 + [0.0] * 70, samples=500, seed=1)
    assert est.value == 0.3 and est.n == 100
    assert est.low < 0.3 < est.high
    assert 0.15 < est.low and est.high < 0.45  # ~ +-9 points for n=100


def test_bootstrap_ratio_of_sums_and_empty():
    est = bootstrap([1, 0, 2], [2, 0, 2], samples=200)
    assert est.value == 0.75
    assert bootstrap([], samples=10).value is None
    assert bootstrap([0.0, 0.0], [0.0, 0.0], samples=10).value is None


def test_paired_change_flags_noise_and_real_change():
    a = [1.0, 0.0] * 50
    same = paired_change(a, [1] * 100, a, [1] * 100, samples=300)
    assert same.delta == 0 and same.within_noise
    better = paired_change([0.0] * 100, [1] * 100, [1.0] * 60 + [0.0] * 40, [1] * 100, samples=300)
    assert better.delta == 0.6 and better.within_noise is False and better.low > 0.4
    small = paired_change(a, [1] * 100, [1.0] + a[1:-1] + [1.0], [1] * 100, samples=300)
    assert small.within_noise  # one flipped item out of 100 is noise
