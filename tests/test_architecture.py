"The library's layout: the import graph of `dlcv_course/*.py`, the one problem table, one budget convention, a fast command line."
import ast, importlib, subprocess, sys
from pathlib import Path
import pytest
from dlcv_course.registry import PROBLEMS, samplers

PKG = Path(__file__).resolve().parents[1]/'dlcv_course'
PROBLEM_MODULES = {'classifier', 'vae', 'dcgan', 'wgan_gp', 'acgan', 'ddpm', 'dann'}
ALLOWED = {('uda', 'dann')}  # the improved method builds on DANN

def imports(path:Path) -> list:
    "(module, names) of every import of `dlcv_course` modules in `path`, at module level and inside functions."
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ''
            if node.level == 1: mod = f'dlcv_course.{mod}' if mod else 'dlcv_course'
            if mod == 'dlcv_course':  # `from dlcv_course import metrics`
                out += [(f'dlcv_course.{a.name}', []) for a in node.names if (PKG/f'{a.name}.py').exists()]
            elif mod.startswith('dlcv_course.'): out.append((mod, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.startswith('dlcv_course.')]
        elif isinstance(node, ast.Call) and getattr(node.func, 'attr', '') == 'import_module' and node.args \
             and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).startswith('dlcv_course.'):
            out.append((node.args[0].value, []))
    return out

def graph() -> dict:
    mods = {p.stem: p for p in PKG.glob('*.py') if p.stem not in ('_modidx', '__init__')}
    return {m: [(i.split('.')[1], names) for i, names in imports(p)] for m, p in mods.items()}

def test_import_graph_has_no_cycle():
    g = {m: {d for d, _ in deps} for m, deps in graph().items()}
    state = {}
    def visit(m, path):
        if state.get(m) == 'done': return
        assert state.get(m) != 'open', f"import cycle: {' -> '.join(path + [m])}"
        state[m] = 'open'
        for d in g.get(m, ()): visit(d, path + [m])
        state[m] = 'done'
    for m in g: visit(m, [])

def test_no_problem_module_imports_another():
    bad = [(m, d) for m, deps in graph().items() for d, _ in deps
           if m in PROBLEM_MODULES | {'uda'} and d in PROBLEM_MODULES and d != m and (m, d) not in ALLOWED]
    assert not bad, bad

def test_no_private_name_crosses_modules():
    bad = [(m, d, n) for m, deps in graph().items() for d, names in deps for n in names if n.startswith('_') and d != m]
    assert not bad, bad

def test_the_checker_finds_what_it_looks_for(tmp_path):
    "The import reader sees imports inside functions and relative ones, so the tests above can fail."
    p = tmp_path/'m.py'
    p.write_text("from .dcgan import _x\ndef f():\n    from dlcv_course.acgan import y\n    import dlcv_course.vae\n")
    assert imports(p) == [('dlcv_course.dcgan', ['_x']), ('dlcv_course.acgan', ['y']), ('dlcv_course.vae', [])]

@pytest.mark.parametrize('name', list(PROBLEMS))
def test_registry_row_builds_its_learner(name):
    "Every problem of `dlcv-course run` has a runner and a learner builder that `bench` can time (at the quick budget)."
    p = PROBLEMS[name]
    assert callable(p.load('run'))
    learn = p.load('learner')(budget='quick')
    assert learn.cfg['budget'] == 'quick' and learn.cfg['lr'] > 0 and callable(getattr(learn, p.fit))
    if p.sampler: assert callable(p.load('sampler'))

def test_cli_offers_exactly_the_table():
    from dlcv_course.cli import _parser
    sub = next(a for a in _parser()._actions if a.dest == 'cmd')
    run, sample = sub.choices['run'], sub.choices['sample']
    assert next(a for a in run._actions if a.dest == 'problem').choices == list(PROBLEMS)
    assert next(a for a in sample._actions if a.dest == 'model').choices == list(samplers()) == ['dcgan', 'wgan-gp', 'acgan', 'ddpm']

@pytest.mark.parametrize('mod', sorted({p.run.split(':')[0] for p in PROBLEMS.values()}))
def test_one_budget_table_per_problem(mod):
    "Every problem module has one `BUDGETS` with quick, cpu and full, every setting written in every row."
    from dlcv_course.core import check_budgets
    m = importlib.import_module(f'dlcv_course.{mod}')
    check_budgets(m.BUDGETS, f'{mod}.BUDGETS')
    assert not [k for k in vars(m) if k.endswith('_BUDGETS')], 'one table per problem'
    assert 'cfg.get(' not in (PKG/f'{mod}.py').read_text(), 'a hidden default: write the setting in BUDGETS'

def test_help_imports_neither_torch_nor_fastai():
    code = ("import sys\nfrom dlcv_course.cli import main\n"
            "for argv in (['--help'], ['run', '--help'], ['sample', '--help'], ['--version']):\n"
            "    try: main(argv)\n    except SystemExit: pass\n"
            "print(sorted(m for m in ('torch', 'fastai') if m in sys.modules))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == '[]'

def test_first_import_prints_no_warning():
    "Importing every module of the library, as a notebook's first cell does, shows no warning (all warnings shown)."
    code = ("import importlib, pathlib, dlcv_course\n"
            "for p in sorted(pathlib.Path(dlcv_course.__file__).parent.glob('*.py')):\n"
            "    if p.stem not in ('__init__', '_modidx'): importlib.import_module('dlcv_course.' + p.stem)\n")
    r = subprocess.run([sys.executable, '-W', 'default', '-c', code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and 'Warning' not in r.stderr, r.stderr[-2000:]
