"""Build the course site without Quarto: one HTML page per notebook of nbs/sidebar.yml, as saved (not executed).

Usage: python tools/build_site.py [--nbs nbs] [--out _site]

Every page gets the sidebar navigation by part (the sections of sidebar.yml), its title from the
notebook's `# Title`, links to `X.ipynb` rewritten to `X.html` (anchors kept), figures embedded
(output PNGs are base64 already; markdown images are embedded, images that outputs reference by
file are copied). nbdev directives are honoured as the docs do: `#| hide` drops a cell,
`#| echo: false` its input, `#| output: false` its outputs; directive lines are not shown.
Equations are typeset by MathJax 3 served from the site itself (`_site/mathjax/`, referenced by a
relative path), so the pages work offline: it is taken from the npm package `mathjax@3.2.2`,
installed once into ~/.cache/dlcv_course/npm (or $DLCV_NPM_CACHE) with `npm install` when it is not
there yet, or from `--mathjax DIR` (a MathJax 3 `es5/` folder).
Problems (a sidebar entry without its notebook, a notebook without a title, an image or a linked
notebook that is not there) are listed and the exit status is 1. Check the result in a browser
with tools/check_site.py.
"""
import argparse, copy, html, json, os, re, shutil, subprocess, sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
MATHJAX_VERSION = '3.2.2'
MATHJAX_SCRIPT = 'tex-chtml-full.js'  # every TeX extension built in: nothing is fetched on demand
MATHJAX_PARTS = [MATHJAX_SCRIPT, 'output/chtml/fonts/woff-v2', 'a11y', 'sre', 'ui']  # the fonts; what the menu loads
MATHJAX_DIR = 'mathjax'  # in the site

# As nbconvert's lab template configures MathJax 2 (inline $...$ and \(...\), display $$...$$ and \[...\], AMS
# numbering), in MathJax 3 terms. Without `noundefined` an unknown macro is a TeX error the site check can see.
MATHJAX_HEAD = r"""<script>
window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
        processEscapes: true, processEnvironments: true, tags: 'ams', packages: {'[-]': ['noundefined']}},
  options: {ignoreHtmlClass: 'tex2jax_ignore', processHtmlClass: 'tex2jax_process'}
};
</script>
<script defer src="SRC"></script>"""

SITE_CSS = """
body.jp-Notebook { margin: 0; padding: 0; }
.site-nav { position: fixed; top: 0; bottom: 0; left: 0; width: 240px; overflow-y: auto; box-sizing: border-box;
  padding: 18px 14px; background: #f6f7f9; border-right: 1px solid #dde1e6;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 14px; line-height: 1.45; }
.site-nav a { color: #1f4e8c; text-decoration: none; }
.site-nav a:hover { text-decoration: underline; }
.site-nav .site-title { display: block; font-size: 18px; font-weight: 600; margin-bottom: 12px; color: #111; }
.site-nav ul { list-style: none; margin: 0; padding: 0; }
.site-nav li { margin: 2px 0; }
.site-nav .section-title { display: block; margin: 14px 0 4px; font-size: 12px; font-weight: 600;
  text-transform: uppercase; letter-spacing: .04em; color: #5b6470; }
.site-nav ul ul li { padding-left: 8px; }
.site-nav a.current { font-weight: 600; color: #111; border-left: 3px solid #2a6fdb; padding-left: 5px; margin-left: -8px; }
main.site-main { margin-left: 240px; padding: 12px 28px 40px; max-width: 1100px; box-sizing: border-box; }
.site-pager { display: flex; justify-content: space-between; border-top: 1px solid #dde1e6; margin-top: 32px;
  padding-top: 12px; font-family: system-ui, sans-serif; font-size: 14px; }
.site-pager a { color: #1f4e8c; }
.jp-RenderedHTMLCommon table { font-size: 12px; }
.jp-InputArea-editor { overflow-x: auto; }  /* long code lines scroll instead of being cut off */
.jp-RenderedHTMLCommon.jp-RenderedMarkdown pre { background: #f5f6f8; border: 1px solid #e3e6ea; border-radius: 4px; padding: 8px 10px;
  margin: 8px 0 12px; overflow-x: auto; }
.jp-RenderedHTMLCommon.jp-RenderedMarkdown pre code { background: none; padding: 0; }
@media (max-width: 820px) {
  .site-nav { position: static; width: auto; border-right: 0; border-bottom: 1px solid #dde1e6; }
  main.site-main { margin-left: 0; padding: 8px 12px; }
}
"""

TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{{ resources.mathjax_head }}{%- endblock html_head_js_mathjax -%}
{% block extra_css %}<style type="text/css">{{ resources.site_css }}</style>{% endblock extra_css %}
{%- block body_header -%}
<body class="jp-Notebook" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">
<nav class="site-nav" aria-label="Course pages">{{ resources.site_nav }}</nav>
<main class="site-main">
{%- endblock body_header -%}
{% block body_footer %}
{{ resources.site_pager }}
</main>
</body>
{% endblock body_footer %}
"""

class SiteError(Exception): pass

def read_sidebar(nbs:Path) -> list:
    "The pages of `nbs/sidebar.yml` in order, as (section or None, notebook name)."
    import yaml
    p = nbs/'sidebar.yml'
    if not p.exists(): raise SiteError(f'{p}: not found (the sidebar lists the pages of the site)')
    try: contents = yaml.safe_load(p.read_text())['website']['sidebar']['contents']
    except (KeyError, TypeError, yaml.YAMLError) as e: raise SiteError(f'{p}: no website.sidebar.contents list ({e})') from None
    pages = []
    def walk(items, section):
        for it in items:
            if isinstance(it, str): pages.append((section, it))
            elif isinstance(it, dict) and 'section' in it: walk(it.get('contents') or [], it['section'])
            elif isinstance(it, dict) and 'href' in it: pages.append((section, it['href']))
            else: raise SiteError(f'{p}: cannot read the sidebar entry {it!r} (a notebook name or a `section:` with `contents:`)')
    walk(contents, None)
    return pages

def site_title(nbs:Path) -> str:
    "The site title from nbdev.yml (website.title), else the folder's parent name."
    import yaml
    try: return yaml.safe_load((nbs/'nbdev.yml').read_text())['website']['title']
    except Exception: return nbs.resolve().parent.name

def nb_title(nb, path) -> str:
    "The notebook's `# Title` (the first level-1 heading of a markdown cell)."
    for c in nb.cells:
        if c.cell_type != 'markdown': continue
        for line in c.source.splitlines():
            if line.startswith('# '): return line[2:].strip()
    raise SiteError(f"{path}: no '# Title' heading in a markdown cell (every page needs one)")

_DIRECTIVE = re.compile(r'^\s*#\s*\|\s*(.*?)\s*$')

def apply_directives(nb):
    "Drop `#| hide` cells and directive-only cells, hide input for `echo: false`, outputs for `output: false`; strip directive lines."
    cells = []
    for c in nb.cells:
        if c.cell_type != 'code': cells.append(c); continue
        lines = c.source.splitlines(); n = 0
        while n < len(lines) and _DIRECTIVE.match(lines[n]): n += 1
        dirs = {re.sub(r'\s+', ' ', _DIRECTIVE.match(l).group(1)).lower() for l in lines[:n]}
        if 'hide' in dirs or any(d.startswith(('default_exp', 'include: false')) for d in dirs): continue
        c.source = '\n'.join(lines[n:]).strip('\n')
        meta = c.metadata.setdefault('jupyter', {})
        if {'echo: false', 'hide_input'} & dirs: meta['source_hidden'] = True; c.transient = dict(remove_source=True)
        if {'output: false', 'hide_output'} & dirs: c.outputs = []
        if not c.source and not c.outputs: continue
        cells.append(c)
    nb.cells = cells
    return nb

_MD_IMG = re.compile(r'!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)|<img\b[^>]*?\bsrc\s*=\s*["\']([^"\']+)["\']', re.I)

def _local(ref:str) -> bool:
    "Whether `ref` is a relative reference to a file (not a URL, data: URI, attachment or anchor)."
    s = urlsplit(ref)
    return not (s.scheme or s.netloc or ref.startswith(('#', '/', 'attachment:')))

def check_markdown_images(nb, nb_path:Path, problems:list):
    "Report markdown images that name a file which is not there (the others get embedded)."
    for c in nb.cells:
        if c.cell_type != 'markdown': continue
        for m in _MD_IMG.finditer(c.source):
            ref = m.group(1) or m.group(2)
            if _local(ref) and not (nb_path.parent/unquote(urlsplit(ref).path)).is_file():
                problems.append(f'{nb_path}: markdown image {ref!r} is not there')

def slug(text:str) -> str:
    "The anchor Quarto/pandoc gives a heading: lower case, punctuation dropped, spaces to hyphens."
    t = re.sub(r'[^\w\s.-]', '', html.unescape(re.sub(r'<[^>]+>', '', text)).replace('\u00b6', '')).strip().lower()
    return re.sub(r'\s', '-', t).lstrip('0123456789.-')  # pandoc: each space a hyphen

def add_anchor_aliases(body:str) -> str:
    "Give each heading the Quarto-style anchor too, so `X.ipynb#the-heading` links written for nbdev resolve."
    ids = set(re.findall(r'\bid="([^"]+)"', body))
    def fix(m):
        a = slug(m.group(3))
        if not a or a in ids: return m.group(0)
        ids.add(a)
        return f'{m.group(1)}<span class="anchor-alias" id="{a}"></span>{m.group(3)}{m.group(4)}'
    return re.sub(r'(<h([1-6])\b[^>]*\bid="[^"]+"[^>]*>)(.*?)(</h\2>)', fix, body, flags=re.S)

def rewrite_refs(body:str, pages:dict, nb_path:Path, nbs:Path, out:Path, problems:list, warnings:list) -> str:
    "Point `X.ipynb` links at `X.html`, copy images that outputs reference by file, report what does not resolve."
    htmls = {Path(n).with_suffix('.html').name for n in pages}
    def fix(m):
        attr, ref = m.group(1).lower(), html.unescape(m.group(2))
        if not _local(ref): return m.group(0)
        s = urlsplit(ref); path = unquote(s.path)
        if attr == 'href' and path.endswith('.ipynb'):
            name = Path(path).name
            if name not in pages: problems.append(f'{nb_path}: link to {ref!r}, a notebook that is not a page of the site (sidebar.yml)')
            new = Path(path).with_suffix('.html').as_posix() + (f'#{s.fragment}' if s.fragment else '')
            return f'{m.group(1)}="{html.escape(new)}"'
        if attr == 'src' and path.startswith(f'{MATHJAX_DIR}/') and (out/path).is_file(): return m.group(0)  # the site's own MathJax
        if attr == 'src':
            src = (nb_path.parent/path).resolve()
            try: rel = src.relative_to(nbs.resolve())
            except ValueError: problems.append(f'{nb_path}: image {ref!r} lies outside {nbs}'); return m.group(0)
            if src.is_file(): (out/rel).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(src, out/rel)
            else: problems.append(f'{nb_path}: image {ref!r} is not there')
        elif path and Path(path).name not in htmls and not (out/path).exists() and not (nb_path.parent/path).exists():
            warnings.append(f'{nb_path}: link to {ref!r}, which is not in the site')
        return m.group(0)
    return re.sub(r'\b(href|src)="([^"]*)"', fix, body)

def nav_html(entries:list, current:str, title:str) -> str:
    "The sidebar: the site title, then the pages by section, the current one marked."
    home = Path(entries[0][1]).with_suffix('.html').name
    out, section = [f'<a class="site-title" href="{home}">{html.escape(title)}</a>', '<ul>'], None
    for sec, name, t in entries:
        if sec != section:
            if section is not None: out.append('</ul></li>')
            if sec is not None: out.append(f'<li class="section"><span class="section-title">{html.escape(sec)}</span><ul>')
            section = sec
        href = Path(name).with_suffix('.html').name
        cur = ' class="current" aria-current="page"' if name == current else ''
        label = 'Home' if name == 'index.ipynb' and t == title else t
        out.append(f'<li><a href="{href}"{cur}>{html.escape(label)}</a></li>')
    if section is not None: out.append('</ul></li>')
    out.append('</ul>')
    return '\n'.join(out)

def pager_html(entries:list, i:int) -> str:
    "Previous / next links at the foot of a page."
    def link(j, fmt):
        if not 0 <= j < len(entries): return '<span></span>'
        return f'<a href="{Path(entries[j][1]).with_suffix(".html").name}">{fmt.format(html.escape(entries[j][2]))}</a>'
    return f'<nav class="site-pager">{link(i-1, "&larr; {}")}{link(i+1, "{} &rarr;")}</nav>'

def npm_cache() -> Path:
    "Where `npm install` puts the site's npm packages: $DLCV_NPM_CACHE, else ~/.cache/dlcv_course/npm."
    return Path(os.environ.get('DLCV_NPM_CACHE') or '~/.cache/dlcv_course/npm').expanduser()

def _mathjax_version(es5:Path) -> str:
    "The version in the package.json next to a MathJax `es5/` folder ('' if there is none)."
    try: return json.loads((es5.parent/'package.json').read_text()).get('version', '')
    except (OSError, ValueError): return ''

def find_mathjax(src=None) -> Path:
    "MathJax's `es5/` folder: `src` if given, else the npm cache's, running `npm install` into the cache when it is missing."
    if src:
        es5 = Path(src).expanduser()
        if not (es5/MATHJAX_SCRIPT).is_file(): raise SiteError(f'--mathjax {es5}: no {MATHJAX_SCRIPT} there (give the es5/ folder of MathJax 3)')
        return es5
    cache = npm_cache(); es5 = cache/'node_modules'/'mathjax'/'es5'
    if (es5/MATHJAX_SCRIPT).is_file() and _mathjax_version(es5) == MATHJAX_VERSION: return es5
    cmd = ['npm', 'install', '--prefix', str(cache), '--no-audit', '--no-fund', '--loglevel=error', f'mathjax@{MATHJAX_VERSION}']
    how = f"run `{' '.join(cmd)}` (npm: `apt-get install -y npm`), or pass --mathjax DIR (a MathJax 3 es5/ folder)"
    if not shutil.which('npm'): raise SiteError(f'MathJax {MATHJAX_VERSION} is not in {cache} and npm is not installed: {how}')
    cache.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode or not (es5/MATHJAX_SCRIPT).is_file():
        raise SiteError(f'`npm install` of mathjax@{MATHJAX_VERSION} into {cache} failed ({r.stderr.strip()[-400:]}): {how}')
    return es5

def copy_mathjax(es5:Path, out:Path) -> Path:
    "Copy the parts of MathJax the pages use into `out/mathjax/` (skipped when that version is there already)."
    dest = out/MATHJAX_DIR
    version = _mathjax_version(es5)
    stamp = dest/'VERSION'
    if version and stamp.is_file() and stamp.read_text().strip() == version and (dest/MATHJAX_SCRIPT).is_file(): return dest
    if dest.exists(): shutil.rmtree(dest)
    for part in MATHJAX_PARTS:
        s, d = es5/part, dest/part
        if s.is_dir(): shutil.copytree(s, d)
        elif s.is_file(): d.parent.mkdir(parents=True, exist_ok=True); shutil.copy2(s, d)
        elif part == MATHJAX_SCRIPT: raise SiteError(f'{s}: not found (a broken MathJax install: delete {es5.parent} and build again)')
    if (es5.parent/'LICENSE').is_file(): shutil.copy2(es5.parent/'LICENSE', dest/'LICENSE')
    stamp.write_text(version + '\n')
    return dest

def build(nbs='nbs', out='_site', quiet=False, mathjax=None) -> dict:
    "Build the site from the notebooks of `nbs/sidebar.yml` into `out` (`mathjax`: an es5/ folder); returns dict(pages, problems, warnings)."
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    nbs, out = Path(nbs), Path(out)
    if not nbs.is_dir(): raise SiteError(f'--nbs {nbs}: not a folder')
    problems, warnings = [], []
    listed = read_sidebar(nbs)
    missing = [n for _, n in listed if not (nbs/n).is_file()]
    if missing: raise SiteError(f'{nbs/"sidebar.yml"} names ' + ', '.join(missing) + f', not found in {nbs}/ (fix the sidebar or add the notebook)')
    title = site_title(nbs)
    notebooks, entries = {}, []
    for sec, name in listed:
        nb = nbformat.read(nbs/name, as_version=4)
        notebooks[name] = nb
        entries.append((sec, name, nb_title(nb, nbs/name)))
    pages = {name for _, name, _ in entries}
    out.mkdir(parents=True, exist_ok=True)
    copy_mathjax(find_mathjax(mathjax), out)
    mathjax_head = MATHJAX_HEAD.replace('SRC', f'{MATHJAX_DIR}/{MATHJAX_SCRIPT}')  # every page sits at the top of the site
    exporter = HTMLExporter(template_name='lab', extra_loaders=[DictLoader({'site.html.j2': TEMPLATE})],
                            template_file='site.html.j2', exclude_input_prompt=True, exclude_output_prompt=True,
                            embed_images=True)
    extra_css = (nbs/'styles.css').read_text() if (nbs/'styles.css').exists() else ''
    for i, (sec, name, t) in enumerate(entries):
        nb = apply_directives(copy.deepcopy(notebooks[name]))
        check_markdown_images(nb, nbs/name, problems)
        nb.metadata['title'] = f'{t} \u2013 {title}' if name != 'index.ipynb' else title
        res = dict(metadata=dict(name=Path(name).stem, path=str(nbs)), site_css=SITE_CSS + extra_css, mathjax_head=mathjax_head,
                   site_nav=nav_html(entries, name, title), site_pager=pager_html(entries, i))
        try: body, _ = exporter.from_notebook_node(nb, resources=res)
        except Exception as e: problems.append(f'{nbs/name}: nbconvert failed: {type(e).__name__}: {e}'); continue
        body = rewrite_refs(add_anchor_aliases(body), pages, nbs/name, nbs, out, problems, warnings)
        dest = out/Path(name).with_suffix('.html').name
        dest.write_text(body, encoding='utf-8')
        if not quiet: print(f'{dest}  {t}  ({len(body)//1024} KiB)')
    return dict(pages=[Path(n).with_suffix('.html').name for _, n, _ in entries], problems=problems, warnings=warnings)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--nbs', default=str(ROOT/'nbs'), help='notebook folder with sidebar.yml [nbs]')
    p.add_argument('--out', default=str(ROOT/'_site'), help='output folder [_site]')
    p.add_argument('--mathjax', default=None, help=f'a MathJax 3 es5/ folder [mathjax@{MATHJAX_VERSION} from npm, cached in {npm_cache()}]')
    a = p.parse_args(argv)
    try: r = build(a.nbs, a.out, mathjax=a.mathjax)
    except SiteError as e: sys.exit(f'build_site: {e}')
    for w in r['warnings']: print(f'warning: {w}')
    for e in r['problems']: print(f'problem: {e}', file=sys.stderr)
    print(f"built {len(r['pages'])} pages into {a.out}/: {len(r['problems'])} problems, {len(r['warnings'])} warnings")
    if r['problems']: sys.exit(1)

if __name__ == '__main__': main()
