"""`dlcv_course.metrics`: the Fréchet distance against its definition and pytorch-fid, IS identities, the grading
formats, the classifier cache, the Inception branch, the epoch callbacks and `dlcv-course eval`.

Fast by default: the course classifier is the `quick` one, trained once into a temporary cache
(`DLCV_CACHE`, `DLCV_CLASSIFIER_BUDGET=quick`). The checks of the issue with the `cpu` classifier run only
with `DLCV_SLOW_TESTS=1` (they train the cpu classifiers into the cache on first use: minutes)."""
import json, os, subprocess, sys, warnings
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image
from conftest import cli
from dlcv_course import metrics as M
from dlcv_course.data import get_dataset, to_float, DataError

slow = pytest.mark.skipif(not os.environ.get('DLCV_SLOW_TESTS'), reason='set DLCV_SLOW_TESTS=1 (trains the cpu classifiers: minutes)')

@pytest.fixture(scope='session')
def quick_cache(tmp_path_factory):
    "A fresh classifier cache with the quick mnist classifier in it; `eval` subprocesses use it too."
    d = tmp_path_factory.mktemp('dlcv-cache')
    old = {k: os.environ.get(k) for k in ('DLCV_CACHE', 'DLCV_CLASSIFIER_BUDGET', 'DLCV_INCEPTION', 'DLCV_NO_DOWNLOAD')}
    os.environ.update(DLCV_CACHE=str(d), DLCV_CLASSIFIER_BUDGET='quick', DLCV_NO_DOWNLOAD='1'); os.environ.pop('DLCV_INCEPTION', None)
    M.course_classifier('mnist', 'quick')
    yield d
    for k, v in old.items():
        if v is None: os.environ.pop(k, None)
        else: os.environ[k] = v

@pytest.fixture(scope='session')
def ext(quick_cache): return M.feature_extractor('mnist', 'quick', inception=False)

@pytest.fixture(scope='session')
def mnist_test(): return get_dataset('mnist', 'test')

def _pfid(a, b):
    from pytorch_fid.fid_score import calculate_frechet_distance
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        return calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))

# ---------------------------------------------------------------- the Fréchet distance
def test_identical_sets_give_zero():
    f = np.random.default_rng(0).normal(size=(300, 12))
    assert abs(M.frechet_distance(f, f)) < 1e-8
    assert abs(M.frechet_distance(f, f.copy())) < 1e-8

def test_symmetric():
    r = np.random.default_rng(1)
    a, b = r.normal(size=(300, 10)), r.gamma(2., size=(250, 10))
    assert M.frechet_distance(a, b) == pytest.approx(M.frechet_distance(b, a), abs=1e-8)

def test_equal_covariances_give_squared_mean_distance():
    r = np.random.default_rng(2)
    a = r.normal(size=(400, 6)) @ r.normal(size=(6, 6))
    shift = r.normal(size=6)*3
    assert M.frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), abs=1e-7)
    mu_a, mu_b = np.zeros(4), np.array([1., 2., 0., -1.]); S = np.diag([1., 2., 3., 4.])
    assert M.frechet_from_moments(mu_a, S, mu_b, S) == pytest.approx(6.0, abs=1e-9)

def test_diagonal_gaussians_closed_form():
    "For commuting covariances, Tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (s1 - s2)^2 of the standard deviations."
    s1, s2 = np.array([1., 4., 9.]), np.array([4., 4., 1.])
    d = M.frechet_from_moments(np.zeros(3), np.diag(s1), np.zeros(3), np.diag(s2))
    assert d == pytest.approx(float(((np.sqrt(s1) - np.sqrt(s2))**2).sum()), abs=1e-9)

@pytest.mark.parametrize('seed, n, d', [(0, 200, 16), (1, 500, 64), (2, 1000, 128), (3, 300, 8)])
def test_agrees_with_pytorch_fid(seed, n, d):
    r = np.random.default_rng(seed)
    a = r.normal(size=(n, d)); b = r.normal(size=(n + 17, d))*r.uniform(0.5, 2, d) + r.normal(size=d)*0.3
    assert M.frechet_distance(a, b) == pytest.approx(_pfid(a, b), abs=1e-6)

def test_singular_covariance_warns_with_sizes_and_stays_real():
    r = np.random.default_rng(3)
    a, b = r.normal(size=(20, 64)), r.normal(size=(25, 64))
    with pytest.warns(M.SingularCovarianceWarning, match=r'20 vs 25 samples in 64 feature dimensions'):
        d = M.frechet_distance(a, b)
    assert type(d) is float and np.isfinite(d) and d > 0
    with pytest.raises(ValueError, match='64'): M.frechet_distance(a, b, strict=True)
    with pytest.warns(M.SingularCovarianceWarning, match='64 vs 100 samples in 64'):   # n = d: rank d-1, still singular
        M.frechet_distance(r.normal(size=(64, 64)), r.normal(size=(100, 64)))
    with warnings.catch_warnings():
        warnings.simplefilter('error', M.SingularCovarianceWarning)
        M.frechet_distance(r.normal(size=(65, 64)), r.normal(size=(65, 64)))  # n > d: no warning

def test_bad_features_are_refused():
    r = np.random.default_rng(4)
    a = r.normal(size=(50, 4)); bad = a.copy(); bad[3, 1] = np.nan
    with pytest.raises(ValueError, match='NaN'): M.frechet_distance(a, bad)
    with pytest.raises(ValueError, match='4 dimensions but feats_b has 5'): M.frechet_distance(a, r.normal(size=(50, 5)))
    with pytest.raises(ValueError, match=r'\(n, d\)'): M.frechet_distance(a[0], a)

# ---------------------------------------------------------------- Inception Score
def test_is_of_identical_predictions_is_one():
    p = np.tile(np.random.default_rng(0).dirichlet(np.ones(10)), (40, 1))
    assert M.inception_score(p) == pytest.approx(1.0, abs=1e-12)

@pytest.mark.parametrize('k', [2, 5, 10])
def test_is_of_confident_even_predictions_is_k(k):
    p = np.eye(k)[np.arange(20*k) % k]
    assert M.inception_score(p) == pytest.approx(k, abs=1e-9)
    assert M.inception_score(torch.from_numpy(p).float()) == pytest.approx(k, abs=1e-5)
    assert M.inception_score(p, splits=4) == pytest.approx(k, abs=1e-9)   # each split also holds every class evenly

def test_is_between_one_and_k_and_rejects_logits():
    p = np.random.default_rng(1).dirichlet(np.ones(6)*0.3, size=200)
    assert 1 < M.inception_score(p) < 6
    with pytest.raises(ValueError, match='logits'): M.inception_score(np.random.default_rng(0).normal(size=(10, 6)))

def test_is_of_images_is_labelled(ext, mnist_test):
    s = M.inception_score(mnist_test.images[:500], extractor=ext)
    assert 1 < s <= 10 and s.classifier == 'classifier-mnist-quick (not comparable with published IS)'
    assert json.loads(json.dumps({'is': s}))['is'] == pytest.approx(float(s))

# ---------------------------------------------------------------- images, FID, floor
def test_float_images_are_quantised_like_pngs(ext, mnist_test, tmp_path):
    "FID of floats in memory == FID of the same floats written as PNGs and read back."
    x = to_float(mnist_test.images[:300]) + torch.randn(300, 3, 28, 28)*0.05
    M.write_images(x, tmp_path/'f')
    back = M.read_grading_folder(tmp_path/'f')[0]
    assert torch.equal(back, M.as_uint8_images(x))
    assert np.allclose(ext(x), ext(back))

def test_fid_result_has_floor_and_extractor(ext, mnist_test):
    a, b = mnist_test.images[:500], mnist_test.images[500:]
    r = M.fid(a, b, extractor=ext)
    assert set(r) >= {'fid', 'fid_floor', 'extractor', 'n'} and r['n'] == 500 and r['floor_n'] == 500
    assert 'not comparable' in r['extractor']
    noisy = M.fid(to_float(a) + torch.randn(500, 3, 28, 28)*0.6, b, extractor=ext)
    assert noisy['fid'] > 5*r['fid'], (r, noisy)
    assert noisy['fid_floor'] == r['fid_floor']   # the floor depends on the reals and the size only

def test_floor_uses_disjoint_real_sets(ext, mnist_test):
    with pytest.warns(M.SingularCovarianceWarning, match='100 vs 300 samples in 128'):
        r = M.fid(mnist_test.images[:100], mnist_test.images[:300], extractor=ext)
    assert r['floor_n'] == 100 and '128 feature dimensions' in r['warning']
    a, b = M._disjoint_halves(300, 100)
    assert not set(a) & set(b)
    r = M.fid(mnist_test.images[:400], mnist_test.images[:300], extractor=ext)
    assert r['floor_n'] == 150 and 'warning' not in r   # the reference set is too small for two sets of 400: half of it, said so

def test_images_in_various_forms(mnist_test):
    u8 = mnist_test.images[:3]
    assert torch.equal(M.as_uint8_images(to_float(u8)), u8)
    assert torch.equal(M.as_uint8_images(u8[:, :1]), u8)
    assert torch.equal(M.as_uint8_images(u8[:, 0].numpy()), u8)
    with pytest.warns(UserWarning, match=r'\[0, 1\]'): M.as_uint8_images((to_float(mnist_test.images[:20]) + 1)/2)

# ---------------------------------------------------------------- classifier cache and accuracy
def test_classifier_is_cached_and_accurate(quick_cache, mnist_test):
    f = M.classifier_path('mnist', 'quick')
    assert f.is_file() and f.is_relative_to(quick_cache)
    t = f.stat().st_mtime_ns
    clf = M.course_classifier('mnist', 'quick')
    assert f.stat().st_mtime_ns == t and clf.name == 'classifier-mnist-quick'
    x, y = mnist_test.images[:500], mnist_test.labels[:500]
    acc = M.classifier_accuracy(x, y, domain='mnist', budget='quick')
    assert 0.6 < acc <= 1
    assert M.classifier_accuracy(x, y, classifier=f) == acc   # from a path
    assert M.classifier_accuracy(x, (y + 1) % 10, classifier=clf) < 0.2
    with pytest.raises(ValueError, match="'huge'"): M.course_classifier('mnist', 'huge')

def test_concurrent_first_use_trains_once(tmp_path, monkeypatch):
    "Two threads asking at once for an uncached classifier: the file lock lets one train; the other waits and loads it."
    import threading, time
    from dlcv_course.classifier import DigitNet, save_classifier
    calls = []
    def fake_run(domain, budget, out):
        calls.append(domain); time.sleep(1.0)
        save_classifier(DigitNet(), Path(out)/'classifier.pth', domain=domain, size=28)
    monkeypatch.setenv('DLCV_CACHE', str(tmp_path)); monkeypatch.setattr(M, 'run_classifier', fake_run)
    got = []
    ts = [threading.Thread(target=lambda: got.append(M.course_classifier('mnist', 'quick'))) for _ in range(3)]
    for t in ts: t.start()
    for t in ts: t.join(60)
    assert calls == ['mnist'] and len(got) == 3
    assert M.classifier_path('mnist', 'quick').is_relative_to(tmp_path)
    assert not [p for p in (tmp_path/'classifiers'/'mnist-quick').iterdir() if p.name.endswith('.tmp')]

# ---------------------------------------------------------------- the Inception branch
@pytest.fixture(scope='module')
def fake_inception(tmp_path_factory):
    "A state dict shaped like pytorch-fid's FID Inception weights (random values), saved under their file name."
    import pytorch_fid.inception as pi
    torch.manual_seed(0)
    net = pi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = pi.FIDInceptionA(192, 32), pi.FIDInceptionA(256, 64), pi.FIDInceptionA(288, 64)
    net.Mixed_6b, net.Mixed_6c = pi.FIDInceptionC(768, 128), pi.FIDInceptionC(768, 160)
    net.Mixed_6d, net.Mixed_6e = pi.FIDInceptionC(768, 160), pi.FIDInceptionC(768, 192)
    net.Mixed_7b, net.Mixed_7c = pi.FIDInceptionE_1(1280), pi.FIDInceptionE_2(2048)
    p = tmp_path_factory.mktemp('hub')/M.INCEPTION_FILE
    torch.save(net.state_dict(), p)
    return p

def test_inception_features_when_weights_are_given(fake_inception, mnist_test, monkeypatch):
    e = M.feature_extractor(inception=fake_inception)
    assert e.name == M.INCEPTION_NAME
    f = e(mnist_test.images[:3]); p = e.probs(mnist_test.images[:3])
    assert f.shape == (3, 2048) and np.isfinite(f).all()
    assert p.shape == (3, 1008) and np.allclose(p.sum(1), 1, atol=1e-5)
    monkeypatch.setenv('DLCV_INCEPTION', str(fake_inception))       # found without being asked for
    assert M.feature_extractor('mnist', 'quick').name == M.INCEPTION_NAME
    monkeypatch.setenv('DLCV_INCEPTION', str(fake_inception.parent/'missing.pth'))
    with pytest.raises(FileNotFoundError, match='missing.pth'): M.feature_extractor('mnist', 'quick')

def test_without_weights_the_classifier_is_used(quick_cache, monkeypatch, tmp_path):
    monkeypatch.delenv('DLCV_INCEPTION', raising=False); monkeypatch.setenv('DLCV_NO_DOWNLOAD', '1')
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path))   # an empty hub cache
    assert M.inception_weights() is None
    assert M.feature_extractor('mnist', 'quick').name.startswith('classifier-mnist-quick-penultimate (not comparable')

@pytest.fixture
def online(monkeypatch, tmp_path):
    "An empty torch hub cache, downloads allowed, no failure remembered; `calls` records the fetches."
    monkeypatch.delenv('DLCV_INCEPTION', raising=False); monkeypatch.delenv('DLCV_NO_DOWNLOAD', raising=False)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path/'hub'))
    monkeypatch.setattr(M, '_FETCH_FAILED', {})
    calls = []
    return calls

def test_weights_url_is_pytorch_fids():
    import pytorch_fid.inception as pi
    assert M.FID_WEIGHTS_URL == pi.FID_WEIGHTS_URL and M.FETCH_TIMEOUT <= 5

def test_inception_fetched_when_online(online, fake_inception, monkeypatch, tmp_path, capsys):
    def stub(url, dst): online.append((url, dst)); Path(dst).parent.mkdir(parents=True, exist_ok=True); Path(dst).write_bytes(fake_inception.read_bytes())
    monkeypatch.setattr(M, '_fetch_url', stub)
    p = M.inception_weights()
    assert p == tmp_path/'hub'/'checkpoints'/M.INCEPTION_FILE and p.is_file()
    assert online == [(M.FID_WEIGHTS_URL, p)]
    assert M.feature_extractor('mnist', 'quick').name == M.INCEPTION_NAME
    assert len(online) == 1   # found in the hub cache the second time

def test_inception_fetch_failure_falls_back_with_a_note(online, quick_cache, monkeypatch, capsys):
    import urllib.error
    def stub(url, dst): online.append(url); raise urllib.error.URLError('[Errno -3] Temporary failure in name resolution')
    monkeypatch.setattr(M, '_fetch_url', stub)
    ext = M.feature_extractor('mnist', 'quick')
    assert ext.name.startswith('classifier-mnist-quick-penultimate (not comparable')
    notes = [l for l in capsys.readouterr().err.splitlines() if l.startswith('note:')]
    assert len(notes) == 1 and 'name resolution' in notes[0] and 'classifier' in notes[0] and M.INCEPTION_FILE in notes[0]
    assert M.inception_weights() is None and online == [M.FID_WEIGHTS_URL]   # no retry in this process

def test_inception_fetch_disabled(online, monkeypatch):
    monkeypatch.setattr(M, '_fetch_url', lambda url, dst: online.append(url))
    monkeypatch.setenv('DLCV_NO_DOWNLOAD', '1')
    assert M.inception_weights() is None
    monkeypatch.delenv('DLCV_NO_DOWNLOAD')
    assert M.inception_weights(download=False) is None
    assert online == []

def test_fetch_does_not_wait_on_a_dead_network(tmp_path):
    "A black-holed address (nothing answers) fails within the connect timeout, leaving no partial file."
    import time
    t = time.time()
    with pytest.raises(OSError): M._fetch_url('http://10.255.255.1/w-6726825d.pth', tmp_path/'w-6726825d.pth', timeout=1)
    assert time.time() - t < 5 and not list(tmp_path.iterdir())

# ---------------------------------------------------------------- grading formats
def test_digit_folder_round_trip(mnist_test, tmp_path):
    sub = mnist_test.subset(57, seed=3)
    names = M.write_digits(sub.images, sub.labels, tmp_path/'d')
    for d in range(10):   # the index counts within each digit, from 000
        mine = sorted(n for n in names if n[0] == str(d))
        assert mine == [f'{d}_{i:03d}.png' for i in range(int((sub.labels == d).sum()))]
    imgs, labels, got = M.read_grading_folder(tmp_path/'d')
    assert sorted(got) == sorted(names)
    order = [names.index(n) for n in got]
    assert (labels == sub.labels.numpy()[order]).all() and torch.equal(imgs, sub.images[order])
    with pytest.raises(DataError, match='already holds'): M.write_digits(sub.images, sub.labels, tmp_path/'d')
    M.write_digits(sub.images[:5], sub.labels[:5], tmp_path/'d', overwrite=True)
    assert len(M.read_grading_folder(tmp_path/'d')[2]) == 5

def test_badly_named_file_is_named(mnist_test, tmp_path):
    M.write_digits(mnist_test.images[:20], mnist_test.labels[:20], tmp_path/'d')
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path/'d'/'x_001.png')
    with pytest.raises(DataError, match='x_001.png'): M.read_grading_folder(tmp_path/'d')
    M.write_images(mnist_test.images[:4], tmp_path/'u')
    assert M.read_grading_folder(tmp_path/'u')[1] is None
    with pytest.raises(DataError, match='0000.png'): M.read_grading_folder(tmp_path/'u', labels=True)
    (tmp_path/'empty').mkdir()
    with pytest.raises(DataError, match='no images'): M.read_grading_folder(tmp_path/'empty')

def test_csv_labels_win_and_predictions_round_trip(mnist_test, tmp_path):
    names = M.write_images(mnist_test.images[:12], tmp_path/'u')
    M.write_predictions_csv(names, mnist_test.labels[:12], tmp_path/'u'/'labels.csv')
    imgs, labels, got = M.read_grading_folder(tmp_path/'u')
    assert got == names and (labels == mnist_test.labels[:12].numpy()).all()
    n2, l2 = M.read_predictions_csv(tmp_path/'u'/'labels.csv')
    assert n2 == names and (l2 == labels).all()
    (tmp_path/'u'/'labels.csv').write_text('image_name,label\n0000.png,3\n0001.png,seven\n')
    with pytest.raises(DataError, match='seven'): M.read_grading_folder(tmp_path/'u')
    (tmp_path/'u'/'labels.csv').write_text('image_name,label\n0000.png,3\n9999.png,1\n')
    with pytest.raises(DataError, match='9999.png'): M.read_grading_folder(tmp_path/'u')

def test_eval_digits_and_fid_functions(quick_cache, mnist_test, tmp_path):
    M.write_digits(mnist_test.images[:200], mnist_test.labels[:200], tmp_path/'d')
    r = M.eval_digits(tmp_path/'d')
    assert r['n'] == 200 and r['accuracy'] == pytest.approx(
        M.classifier_accuracy(mnist_test.images[:200], mnist_test.labels[:200], budget='quick'))
    assert r['classifier'] == 'classifier-mnist-quick' and set(r['per_digit']) == {str(d) for d in range(10)}
    r = M.eval_fid(tmp_path/'d', 'mnist')
    assert r['n'] == 200 and r['n_reals'] == 2000 and 'classifier-mnist-quick' in r['extractor']

def test_label_outside_the_digits_is_named(mnist_test, tmp_path):
    names = M.write_images(mnist_test.images[:6], tmp_path/'u')
    for bad in (12, -3):
        M.write_predictions_csv(names, [1, 2, 3, bad, 4, 5], tmp_path/'u'/'labels.csv')
        with pytest.raises(DataError, match=rf"labels.csv line 5 \(data row 4\): label {bad} of '0003.png' is not a class 0..9"):
            M.read_grading_folder(tmp_path/'u')
    assert (M.read_predictions_csv(tmp_path/'u'/'labels.csv')[1] == [1, 2, 3, -3, 4, 5]).all()   # UDA files: any integer

def test_wrong_header_and_header_only_csv_are_named(mnist_test, tmp_path):
    names = M.write_images(mnist_test.images[:4], tmp_path/'u')
    (tmp_path/'u'/'labels.csv').write_text('file,digit\n' + ''.join(f'{n},1\n' for n in names))
    with pytest.raises(DataError, match=r"labels.csv has the header \['file', 'digit'\], not image_name,label"):
        M.read_grading_folder(tmp_path/'u', labels=True)
    (tmp_path/'u'/'labels.csv').write_text('image_name,label\n')
    with pytest.raises(DataError, match='labels.csv has a header row .* but no data rows'): M.read_grading_folder(tmp_path/'u')

def test_eval_predictions_grades_against_the_label_rows(tmp_path):
    "Accuracy over the labels' rows (missing = wrong), extra rows ignored but named, names compared by stripped file name."
    (tmp_path/'val.csv').write_text('image_name,label\n' + ''.join(f'{i:04d}.png,{i % 3}\n' for i in range(10)))
    rows = [f'target/{i:04d}.png,{i % 3}' for i in range(8)] + ['0000.jpg,0', ' 0099.png ,1']   # 0008, 0009 missing
    rows[1] = '0001.png,2'   # one wrong
    (tmp_path/'pred.csv').write_text('image_name,label\n' + '\n'.join(rows) + '\n')
    r = M.eval_predictions(tmp_path/'pred.csv', tmp_path/'val.csv')
    assert (r['n'], r['n_correct'], r['accuracy']) == (10, 7, 0.7)
    assert (r['missing'], r['missing_examples'], r['extra'], r['extra_examples']) == (2, ['0008.png', '0009.png'], 2, ['0000.jpg', '0099.png'])
    assert r['per_class'] == {'0': 0.75, '1': 0.6667, '2': 0.6667}   # 0009 missing (class 0), 0001 wrong (1), 0008 missing (2)
    assert (r['predictions'], r['labels']) == (str(tmp_path/'pred.csv'), str(tmp_path/'val.csv'))
    many = 'image_name,label\n' + ''.join(f'x{i}.png,0\n' for i in range(9))
    (tmp_path/'many.csv').write_text(many)
    r = M.eval_predictions(tmp_path/'many.csv', tmp_path/'val.csv')
    assert (r['accuracy'], r['extra'], len(r['extra_examples']), r['missing'], len(r['missing_examples'])) == (0.0, 9, 5, 10, 5)

@pytest.mark.parametrize('text, needle', [
    ('image_name,label\n0001.png,1\n./0001.png,1\n', "line 3 (data row 2): image '0001.png' is given again, first on line 2 (data row 1) ('0001.png' and './0001.png'"),
    ('image_name,label\n0001.png,one\n', "line 2 (data row 1): label one of '0001.png' is not an integer"),
    ('image_name,label\n0001.png,1.5\n', "line 2 (data row 1): label 1.5 of '0001.png' is not an integer"),
    ('image_name,label\n0001.png,1\n0002.png,\n', "line 3 (data row 2): the label of '0002.png' is empty"),
    ('image,label\n0001.png,1\n', "has no column 'image_name'"),
    ('image_name,label\n', 'has a header row'),
])
def test_eval_predictions_refuses_what_it_cannot_grade(tmp_path, text, needle):
    (tmp_path/'val.csv').write_text('image_name,label\n0001.png,1\n0002.png,2\n')
    (tmp_path/'bad.csv').write_text(text)
    for args in ((tmp_path/'bad.csv', tmp_path/'val.csv'), (tmp_path/'val.csv', tmp_path/'bad.csv')):   # either file
        with pytest.raises(DataError) as e: M.eval_predictions(*args)
        assert str(e.value).startswith(str(tmp_path/'bad.csv')) and needle in str(e.value), str(e.value)
    with pytest.raises(DataError, match='nope.csv is missing: give the labels csv'): M.eval_predictions(tmp_path/'val.csv', tmp_path/'nope.csv')

def _homework_A(root, ds, n_train=20, n_val=8):
    (root/'data').mkdir(parents=True)
    names = [f'{i:05d}.png' for i in range(n_train + n_val)]
    for n, a in zip(names, ds.images[:n_train + n_val, 0].numpy()): Image.fromarray(a).save(root/'data'/n)
    lab = ds.labels[:n_train + n_val].numpy()
    import pandas as pd
    pd.DataFrame({'image_name': names[:n_train], 'label': lab[:n_train]}).to_csv(root/'train.csv', index=False)
    pd.DataFrame({'image_name': names[n_train:], 'label': lab[n_train:]}).to_csv(root/'val.csv', index=False)
    return root

def test_homework_folder_graded_on_its_test_split(quick_cache, mnist_test, tmp_path):
    root = _homework_A(tmp_path/'usps', mnist_test)
    x, labels, names = M.read_grading_folder(root)
    assert names == [f'{i:05d}.png' for i in range(20, 28)] and (labels == mnist_test.labels[20:28].numpy()).all()
    assert torch.equal(x, mnist_test.images[20:28])
    r = M.eval_digits(root)
    assert r['n'] == 8 and r['labels_from'] == str(root/'val.csv')
    assert r['accuracy'] == pytest.approx(M.classifier_accuracy(mnist_test.images[20:28], mnist_test.labels[20:28], budget='quick'))
    (root/'val.csv').write_text('image_name\n' + ''.join(f'{n}\n' for n in names))
    with pytest.raises(DataError, match='val.csv has no label column'): M.eval_digits(root)

# ---------------------------------------------------------------- callbacks
def _toy_learner(n=128):
    from fastai.basics import Learner
    from dlcv_course.core import TensorPairs, make_dls
    lin = torch.nn.Linear(1, 1)
    dls = make_dls(TensorPairs(torch.randn(n, 1), torch.randn(n, 1)), TensorPairs(torch.randn(32, 1), torch.randn(32, 1)), bs=32)
    return Learner(dls, lin, loss_func=torch.nn.functional.mse_loss)

def test_fid_callback_fixed_noise_history_and_checkpoint(ext, mnist_test, tmp_path):
    from dlcv_course.core import torch_save, torch_load
    reals = to_float(mnist_test.images[:1000])
    draws = []
    def sample(learn, n):
        z = torch.rand(n); draws.append(z)
        i = (z*1000).long()
        return reals[i] + torch.randn(n, 3, 28, 28)*0.3
    cb = M.FIDCallback(sample, mnist_test.images[1000:], every=2, n=300, extractor=ext)
    learn = _toy_learner(); learn.fit(3, 1e-3, cbs=cb)
    assert [h['epoch'] for h in cb.history] == [1, 2]   # every 2 epochs, and at the end
    assert torch.equal(draws[0], draws[1])              # the same noise at every epoch
    assert cb.history[0]['fid'] == pytest.approx(cb.history[1]['fid'], rel=1e-9)   # same samples, same FID
    assert cb.history[0]['fid_floor'] > 0 and cb.history[0]['fid'] > cb.history[0]['fid_floor']
    torch_save(cb.state_dict(), tmp_path/'s.pth')
    cb2 = M.FIDCallback(sample, mnist_test.images[1000:], n=300, extractor=ext); cb2.load_state_dict(torch_load(tmp_path/'s.pth'))
    assert cb2.history == cb.history
    import matplotlib; matplotlib.use('Agg'); assert cb.plot() is not None

def test_accuracy_callback(quick_cache, mnist_test):
    by_digit = {d: to_float(mnist_test.images[mnist_test.labels == d][:5]) for d in range(10)}
    def sample(learn, labels): return torch.stack([by_digit[int(l)][i % 5] for i, l in enumerate(labels)])
    cb = M.AccuracyCallback(sample, n_per_class=5, budget='quick')
    learn = _toy_learner(); learn.fit(1, 1e-3, cbs=cb)
    assert len(cb.history) == 1 and cb.history[0]['accuracy'] > 0.6
    bad = M.AccuracyCallback(lambda learn, labels: sample(learn, (labels + 1) % 10), n_per_class=5, budget='quick')
    learn.fit(1, 1e-3, cbs=bad)
    assert bad.history[0]['accuracy'] < 0.3

# ---------------------------------------------------------------- the command line (each call starts Python: few calls)
def test_cli_eval_digits_of_an_exported_data_set(quick_cache, tmp_path):
    "`dlcv-course data export` then `eval digits`: labels from the exported csv; --json and --classifier."
    cli('data', 'export', 'mnist', '--split', 'valid', '--out', tmp_path/'v')
    res = json.loads(cli('eval', 'digits', tmp_path/'v', '--json').stdout)
    assert {'accuracy', 'n', 'classifier'} <= set(res) and res['n'] == 1000 and 0.6 < res['accuracy'] <= 1
    assert res['classifier'] == 'classifier-mnist-quick'   # DLCV_CLASSIFIER_BUDGET=quick
    same = M.eval_digits(tmp_path/'v', classifier=str(M.classifier_path('mnist', 'quick')))   # what --classifier PATH passes
    assert same['accuracy'] == res['accuracy'] and same['classifier'].startswith('classifier /')

def test_cli_eval_fid_json(quick_cache, mnist_test, tmp_path):
    M.write_images(mnist_test.images[:500], tmp_path/'a'); M.write_images(mnist_test.images[500:1000], tmp_path/'b')
    res = json.loads(cli('eval', 'fid', tmp_path/'a', '--against', tmp_path/'b', '--json').stdout)
    assert {'fid', 'fid_floor', 'extractor', 'n'} <= set(res) and res['n'] == 500 and res['floor_n'] == 250
    assert 'not comparable' in res['extractor'] and 0 <= res['fid'] < 10*res['fid_floor'] + 1

def test_cli_eval_bad_name_is_one_clear_line(quick_cache, mnist_test, tmp_path):
    d = tmp_path/'f'; M.write_digits(mnist_test.images[:5], mnist_test.labels[:5], d)
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(d/'seven.png')
    r = cli('eval', 'digits', d, check=False)
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith('dlcv-course: error:') and 'seven.png' in last, r.stderr

# ---------------------------------------------------------------- the checks with the cpu classifiers
@slow
def test_mnistm_test_digits_graded_at_least_095(tmp_path, monkeypatch):
    monkeypatch.delenv('DLCV_CLASSIFIER_BUDGET', raising=False); monkeypatch.delenv('DLCV_CACHE', raising=False)
    cli('data', 'export', 'mnistm', '--split', 'test', '--out', tmp_path/'F')
    res = json.loads(cli('eval', 'digits', tmp_path/'F', '--domain', 'mnistm', '--json', timeout=3600).stdout)
    assert res['accuracy'] >= 0.95, res

@slow
def test_fid_of_mnist_halves_under_a_tenth_of_mnist_vs_mnistm(tmp_path, monkeypatch):
    monkeypatch.delenv('DLCV_CLASSIFIER_BUDGET', raising=False); monkeypatch.delenv('DLCV_CACHE', raising=False)
    t = get_dataset('mnist', 'test')
    M.write_images(t.images[:1000], tmp_path/'A'); M.write_images(t.images[1000:], tmp_path/'B')
    cli('data', 'export', 'mnistm', '--split', 'test', '--out', tmp_path/'mm')
    halves = json.loads(cli('eval', 'fid', tmp_path/'A', '--against', tmp_path/'B', '--json', timeout=3600).stdout)
    cross = json.loads(cli('eval', 'fid', tmp_path/'mm', '--against', 'mnist', '--json', timeout=3600).stdout)
    assert halves['fid'] < cross['fid']/10, (halves, cross)
    assert halves['extractor'] == cross['extractor']
