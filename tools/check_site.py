r"""Check the built site in a real browser: Debian's chromium, headless, driven through the DevTools protocol.

Usage: python tools/check_site.py [--site _site] [--shots DIR] [--timeout 60]

Every HTML page of the site is opened at 1280 x 900 px. A page passes when it loads (its load event
fires, it has a <title> and the site navigation), no JavaScript error is thrown, every <img> has
loaded (complete and naturalWidth > 0), every link inside the site resolves (the target file exists
and, for `page.html#anchor`, the anchor is an id or <a name> on the target page), and:
- it loads nothing from outside the site: every request (DevTools Network.requestWillBeSent) is a
  file of the site, a data:/blob: URL or localhost; a CDN script or font fails the page, online or not;
- its math is typeset: once MathJax's startup promise has resolved, no text outside rendered math,
  code and pre elements still holds TeX (`$...$`, `$$`, `\(`, `\[`, `\frac`, `\mathbb`, ...), and
  MathJax reported no TeX error;
- it does not scroll sideways: document.scrollingElement.scrollWidth <= window.innerWidth + 2 px
  (the widest culprits are named), and no markdown cell, HTML or image output is wider than its
  column (in nbconvert's layout such a cell scrolls inside the page, its right part hidden; text
  outputs, code and pre blocks may scroll).
Links that leave the site (http, mailto) are counted, not followed. A screenshot of each page goes
to the shots folder (default SITE/_check/) with report.json. Prints a summary; the exit status is 1
if anything failed.

Needs chromium (`apt-get install -y chromium`; or set $CHROMIUM) and the `websocket-client` package.
"""
import argparse, base64, json, os, re, shutil, socket, subprocess, sys, tempfile, time
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--hide-scrollbars',
         '--no-first-run', '--no-default-browser-check', '--disable-extensions', '--mute-audio',
         '--remote-allow-origins=*', '--window-size=1280,900']

PROBE = r"""(() => {
  const imgs = [...document.images].map(i => ({src: (i.getAttribute('src') || '').slice(0, 100), complete: i.complete,
                                            width: i.naturalWidth}));
  const links = [...document.querySelectorAll('a[href]')].map(a => ({href: a.getAttribute('href'), url: a.href,
                                                                     text: a.textContent.trim().slice(0, 60)}));
  const ids = [...document.querySelectorAll('[id]')].map(e => e.id)
                .concat([...document.querySelectorAll('a[name]')].map(a => a.getAttribute('name')));
  return JSON.stringify({title: document.title, ready: document.readyState, imgs, links, ids,
                         nav: !!document.querySelector('nav.site-nav'), h1: (document.querySelector('h1') || {}).textContent || ''});
})()"""

# After MathJax is done: TeX left in text outside math/code, MathJax's TeX errors, what sticks out sideways, cut-off outputs.
MATH_PROBE = r"""(() => {
  const skip = 'mjx-container, script, style, code, pre, textarea, kbd, samp, .tex2jax_ignore';
  const tex = /\$\$|\\\(|\\\[|\\(frac|dfrac|mathbb|mathcal|mathbf|mathrm|operatorname|sum|prod|int|sqrt|begin|left|right|nabla|partial|cdot|times|alpha|beta|gamma|theta|lambda|sigma|epsilon|mu|hat|tilde|text)(?![a-zA-Z])|\$[^$\s][^$]*?\$/;
  const raw = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n && raw.length < 5; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip)) continue;
    const m = n.textContent.match(tex);
    if (m) { const i = Math.max(0, m.index - 30); raw.push(n.textContent.slice(i, m.index + 50).replace(/\s+/g, ' ').trim()); }
  }
  const errors = [...document.querySelectorAll('mjx-merror')].slice(0, 5).map(e => e.getAttribute('data-mjx-error') || e.textContent.slice(0, 80));
  const W = window.innerWidth, wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.right <= W + 2 || r.width === 0) continue;
    const p = el.parentElement;
    if (p && p !== document.body && p.getBoundingClientRect().right > W + 2) continue;  // name the outermost culprit only
    const cls = (typeof el.className === 'string' ? el.className : '').trim().split(/\s+/).filter(Boolean).slice(0, 2);
    const text = el.textContent.trim().replace(/\s+/g, ' ').slice(0, 40);
    wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + cls.map(c => '.' + c).join('') +
              ` (${Math.round(r.right)} px right edge${text ? ': ' + JSON.stringify(text) : ''})`);
    if (wide.length >= 3) break;
  }
  const cut = [...document.querySelectorAll('.jp-OutputArea-output:not(.jp-RenderedText), .jp-RenderedMarkdown')]
    .filter(e => e.scrollWidth > e.clientWidth + 2).slice(0, 3)
    .map(e => `${e.classList.contains('jp-RenderedMarkdown') ? 'a markdown cell' : 'an output'} scrolls sideways inside the page, ` +
              `cut off at the right: ${e.scrollWidth} px in a ${e.clientWidth} px column: ${JSON.stringify(e.textContent.trim().replace(/\s+/g, ' ').slice(0, 40))}`);
  return JSON.stringify({raw_tex: raw, tex_errors: errors, math: document.querySelectorAll('mjx-container').length,
                         scroll_width: document.scrollingElement.scrollWidth, view_width: W, wide, cut});
})()"""

# Resolves when MathJax has typeset the page (or says why it cannot), then when the web fonts are in.
MATHJAX_WAIT = r"""(async () => {
  let state = 'none';
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    try { await MathJax.startup.promise; state = 'typeset'; } catch (e) { state = 'failed: ' + e; }
  } else if (window.MathJax) state = 'not loaded';
  if (document.fonts) await document.fonts.ready;
  return state;
})()"""

LOCAL_HOSTS = {'localhost', '127.0.0.1', '[::1]', '::1'}

class CheckError(Exception): pass

def outside(url:str, site:Path) -> bool:
    "Whether a request for `url` leaves the site: not data:/blob:/about:, not localhost, and for file: not under `site`."
    u = urlsplit(url)
    if u.scheme in ('data', 'blob', 'about', 'chrome', 'devtools'): return False
    if u.scheme == 'file':
        f = Path(unquote(u.path)).resolve()
        return not (f == site or site in f.parents)
    return (u.hostname or '') not in LOCAL_HOSTS

def find_chromium() -> str:
    "The chromium executable: $CHROMIUM, else the first of chromium, chromium-browser, google-chrome on PATH."
    for c in [os.environ.get('CHROMIUM'), 'chromium', 'chromium-browser', 'google-chrome']:
        if c and shutil.which(c): return shutil.which(c)
    raise CheckError('chromium not found: install it (`apt-get install -y chromium`) or set $CHROMIUM')

class CDP:
    "A minimal DevTools protocol client over one websocket: `call` a method, `wait` for an event."
    def __init__(self, ws_url:str, timeout:float=60):
        import websocket
        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self.n, self.events, self.timeout = 0, [], timeout
    def _recv(self, deadline):
        self.ws.settimeout(max(0.05, deadline - time.time()))
        return json.loads(self.ws.recv())
    def call(self, method:str, **params):
        self.n += 1; mid = self.n
        self.ws.send(json.dumps(dict(id=mid, method=method, params=params)))
        deadline = time.time() + self.timeout
        while True:
            msg = self._recv(deadline)
            if msg.get('id') == mid:
                if 'error' in msg: raise CheckError(f"{method}: {msg['error'].get('message')}")
                return msg.get('result', {})
            if 'method' in msg: self.events.append(msg)
    def wait(self, event:str, timeout:float) -> bool:
        "Wait for `event`; True if it came (events that arrive meanwhile are kept)."
        if any(e['method'] == event for e in self.events): return True
        deadline = time.time() + timeout
        while time.time() < deadline:
            try: msg = self._recv(deadline)
            except Exception: return False
            if 'method' in msg:
                self.events.append(msg)
                if msg['method'] == event: return True
        return False
    def close(self): self.ws.close()

class Browser:
    "Headless chromium with a DevTools port, and one page (tab) to drive."
    def __init__(self, exe:str, timeout:float=60):
        self.tmp = tempfile.mkdtemp(prefix='check_site_')
        self.proc = subprocess.Popen([exe, *FLAGS, '--remote-debugging-port=0', f'--user-data-dir={self.tmp}', 'about:blank'],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port_file, t0 = Path(self.tmp)/'DevToolsActivePort', time.time()
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None:
                raise CheckError(f'{exe} exited with {self.proc.returncode}: {self.proc.stderr.read().decode()[-800:]}')
            if time.time() - t0 > timeout: self.close(); raise CheckError(f'{exe} did not open its DevTools port in {timeout} s')
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        for _ in range(50):
            targets = json.loads(urlopen(f'http://127.0.0.1:{port}/json/list', timeout=10).read())
            pages = [t for t in targets if t.get('type') == 'page']
            if pages: break
            time.sleep(0.1)
        else: raise CheckError('chromium opened no page')
        self.version = json.loads(urlopen(f'http://127.0.0.1:{port}/json/version', timeout=10).read()).get('Browser', '?')
        self.cdp = CDP(pages[0]['webSocketDebuggerUrl'], timeout)
        for m in ('Page.enable', 'Runtime.enable', 'Log.enable', 'Network.enable'): self.cdp.call(m)
        self.cdp.call('Emulation.setDeviceMetricsOverride', width=1280, height=900, deviceScaleFactor=1, mobile=False)
    def close(self):
        try: self.cdp.close()
        except Exception: pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try: self.proc.wait(10)
            except subprocess.TimeoutExpired: self.proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)
    def visit(self, url:str, timeout:float) -> dict:
        "Open `url`, wait for MathJax; return the probes' findings, JS errors, requests, failed loads and a PNG screenshot."
        c = self.cdp; c.events.clear()
        r = c.call('Page.navigate', url=url)
        if r.get('errorText'): return dict(error=f"navigation failed: {r['errorText']}")
        loaded = c.wait('Page.loadEventFired', timeout)
        try: mathjax = c.call('Runtime.evaluate', expression=MATHJAX_WAIT, awaitPromise=True, returnByValue=True)['result'].get('value', '?')
        except Exception as e: mathjax = f'did not finish: {e}'
        deadline = time.time() + 5  # images decode after load: give them a moment
        while True:
            info = json.loads(c.call('Runtime.evaluate', expression=PROBE, returnByValue=True)['result']['value'])
            if all(i['complete'] for i in info['imgs']) or time.time() > deadline: break
            time.sleep(0.2)
        info.update(json.loads(c.call('Runtime.evaluate', expression=MATH_PROBE, returnByValue=True)['result']['value']), mathjax=mathjax)
        c.wait('Never.happens', 0.3)  # collect late events (errors thrown by scripts after load)
        js = []
        for e in c.events:
            p = e.get('params', {})
            if e['method'] == 'Runtime.exceptionThrown':
                d = p.get('exceptionDetails', {})
                js.append(((d.get('exception') or {}).get('description') or d.get('text', 'exception')).split('\n')[0])
            elif e['method'] == 'Runtime.consoleAPICalled' and p.get('type') == 'error':
                js.append('console.error: ' + ' '.join(str(a.get('value', a.get('description', ''))) for a in p.get('args', [])))
        reqs = {e['params']['requestId']: e['params']['request']['url'] for e in c.events if e['method'] == 'Network.requestWillBeSent'}
        failed = [dict(url=reqs.get(e['params']['requestId'], '?'), error=e['params'].get('errorText', ''))
                  for e in c.events if e['method'] == 'Network.loadingFailed']
        shot = base64.b64decode(c.call('Page.captureScreenshot', format='png')['data'])
        return dict(info, loaded=loaded, js_errors=js, failed_loads=failed, requests=list(reqs.values()), screenshot=shot)

def _file_ids(path:Path) -> set:
    "The ids and <a name>s of an HTML file that was not opened in the browser."
    t = path.read_text(errors='replace')
    return set(re.findall(r'\bid\s*=\s*["\']([^"\']+)', t)) | set(re.findall(r'<a\b[^>]*\bname\s*=\s*["\']([^"\']+)', t))

def check_site(site='_site', shots=None, timeout:float=60, quiet=False) -> dict:
    "Open every page of `site` in headless chromium; returns dict(pages, problems, browser); screenshots and report.json in `shots`."
    site = Path(site).resolve()
    if not site.is_dir(): raise CheckError(f'--site {site}: not a folder (build it with tools/build_site.py)')
    shots = Path(shots) if shots else site/'_check'
    shots.mkdir(parents=True, exist_ok=True)
    htmls = sorted(p for p in site.rglob('*.html') if shots.resolve() not in p.resolve().parents)
    if not htmls: raise CheckError(f'{site}: no HTML pages')
    b = Browser(find_chromium(), timeout)
    pages, problems, ids = [], [], {}
    try:
        for p in htmls:
            rel = p.relative_to(site).as_posix()
            r = b.visit(p.as_uri(), timeout)
            page = dict(page=rel, problems=[])
            def bad(msg): page['problems'].append(msg); problems.append(f'{rel}: {msg}')
            if 'error' in r: bad(r['error']); pages.append(page); continue
            ids[p.resolve()] = set(r['ids'])
            shot = shots/(rel.replace('/', '__')[:-5] + '.png'); shot.write_bytes(r['screenshot'])
            external = sorted({u for u in r['requests'] if outside(u, site)})
            page.update(title=r['title'], screenshot=str(shot), images=len(r['imgs']), links=len(r['links']), math=r['math'],
                        mathjax=r['mathjax'], scroll_width=r['scroll_width'], external_requests=external, _links=r['links'])
            if not r['loaded']: bad(f'the load event did not fire within {timeout} s')
            if not r['title'].strip(): bad('no <title>')
            if not r['nav']: bad('no site navigation (nav.site-nav)')
            for e in r['js_errors']: bad(f'JavaScript error: {e}')
            for i in r['imgs']:
                if not (i['complete'] and i['width'] > 0): bad(f"image did not load: {i['src']!r}")
            for f in r['failed_loads']:
                if f['url'].startswith('file:') and not any(f['url'].endswith(i['src']) for i in r['imgs']):
                    bad(f"failed to load {unquote(urlsplit(f['url']).path)} ({f['error']})")
            for u in external: bad(f'loads {u[:120]} from outside the site (serve it from the site: it fails offline)')
            if r['mathjax'] not in ('typeset', 'none'): bad(f"MathJax {r['mathjax']}")
            for t in r['raw_tex']: bad(f'raw TeX, not typeset: "{t}"')
            for t in r['tex_errors']: bad(f'TeX error in an equation: {t}')
            if r['scroll_width'] > r['view_width'] + 2:
                bad(f"scrolls sideways: {r['scroll_width']} px wide at {r['view_width']} px; too wide: " + '; '.join(r['wide'] or ['?']))
            for c in r['cut']: bad(c)
            pages.append(page)
        # links, once every page's anchors are known
        for page in pages:
            links = page.pop('_links', [])
            page['external_links'] = 0
            for l in links:
                u = urlsplit(l['url'])
                if u.scheme in ('http', 'https', 'mailto', 'javascript', 'data'): page['external_links'] += 1; continue
                if u.scheme != 'file': continue
                target = Path(unquote(u.path)).resolve()
                msg = None
                if site not in target.parents and target != site: msg = 'leaves the site'
                elif not target.exists(): msg = 'target file not found'
                elif u.fragment and target.suffix == '.html':
                    known = ids.get(target)
                    if known is None: known = ids[target] = _file_ids(target)
                    # as browsers do (HTML spec, "indicated part"): the fragment as written, then percent-decoded
                    if u.fragment not in known and unquote(u.fragment) not in known:
                        msg = f'no anchor #{unquote(u.fragment)} on {target.relative_to(site).as_posix()}'
                if msg:
                    page['problems'].append(f"broken link {l['href']!r} ({l['text']!r}): {msg}")
                    problems.append(f"{page['page']}: broken link {l['href']!r} ({l['text']!r}): {msg}")
    finally: b.close()
    report = dict(site=str(site), browser=b.version, pages=pages, problems=problems)
    (shots/'report.json').write_text(json.dumps(report, indent=1))
    return report

def summary(report:dict, shots) -> str:
    "A table of the pages (images, links, typeset equations, page width, problems) and the list of problems."
    lines = [f"checked {len(report['pages'])} pages of {report['site']} in {report['browser']}",
             f"{'page':28} {'images':>6} {'links':>6} {'math':>5} {'width':>5} {'problems':>8}  title"]
    for p in report['pages']:
        lines.append(f"{p['page']:28} {p.get('images', '-'):>6} {p.get('links', '-'):>6} {p.get('math', '-'):>5} "
                     f"{p.get('scroll_width', '-'):>5} {len(p['problems']):>8}  {p.get('title', '')[:60]}")
    lines.append(f'screenshots and report.json: {shots}')
    lines += [f'PROBLEM {p}' for p in report['problems']]
    lines.append(f"{len(report['problems'])} problems" if report['problems'] else 'all pages OK')
    return '\n'.join(lines)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--site', default=str(ROOT/'_site'), help='the built site [_site]')
    p.add_argument('--shots', default=None, help='folder for the screenshots and report.json [SITE/_check]')
    p.add_argument('--timeout', type=float, default=60, help='seconds to wait for a page to load [60]')
    a = p.parse_args(argv)
    shots = a.shots or str(Path(a.site)/'_check')
    try: r = check_site(a.site, shots, a.timeout)
    except CheckError as e: sys.exit(f'check_site: {e}')
    print(summary(r, shots))
    if r['problems']: sys.exit(1)

if __name__ == '__main__': main()
