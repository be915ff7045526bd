"""The browser classroom on a real cluster: JupyterHub, two learners, headless Chromium.

The instructor's ``up --hub`` is run once for the module (two learners); then each test
does what a person would, in a real browser (Debian's ``chromium`` and ``chromedriver``,
driven by Selenium): sign in with the link, open notebook 01 and run every cell, solve a
lab question and read *Correct*, try another learner's server, be cut off. The hub's own
identity is proven with SubjectAccessReviews. ``tests/run.py`` runs this module beside the
local cluster, beside kind, and beside the local cluster treated as an existing one (the
kubeconfig backend, with ``HUB_IMAGE`` and ``HUB_POD_ADDRESS``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from helpers import names
from helpers.course import Course
from helpers.pods import exec_in_pod
from helpers.workshop import Workshop, board, policy
from helpers.workshop.hub import Hub, hub_username
from helpers.workshop.signin import NOT_VALID, USED
from tests.cluster.in_pod import PORT_OFFSET, hub_settings
from tools.bench_hub import pod_memory_mib

pytestmark = pytest.mark.browser

NAME = "hbt"
LEARNERS = 2
#: A notebook's cells on a loaded two-core machine, and a server's cold start.
RUN_ALL_SECONDS = 300
START_SECONDS = 180


@pytest.fixture(scope="module")
def classroom(course: Course) -> Iterator[tuple[Workshop, Hub, dict[str, Path]]]:
    if course.backend not in PORT_OFFSET:
        pytest.skip(f"no hub beside the {course.backend} backend")
    ws = Workshop(course, NAME)
    hub = Hub(ws, hub_settings(course, 8010))
    hub.down()
    if ws.existing():
        ws.down()
    learners = ws.up(LEARNERS, 3600)
    started = time.monotonic()
    links = hub.up([lr.prefix for lr in learners], 3600)
    print(f"\nhub up in {time.monotonic() - started:.1f}s")
    yield ws, hub, links
    hub.down()
    ws.down()


def _browser() -> webdriver.Chrome:
    for binary in ("chromium", "chromedriver"):
        if not shutil.which(binary):
            pytest.fail(f"no {binary} here: run .ci/browser/ensure (Debian, root) and retry.")
    options = Options()
    options.binary_location = shutil.which("chromium") or ""
    profile = tempfile.mkdtemp(prefix="sa-course-chromium-")
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container: Chromium's sandbox needs user namespaces
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    driver.set_page_load_timeout(120)
    return driver


@pytest.fixture(scope="module")
def browsers(classroom) -> Iterator[dict[str, webdriver.Chrome]]:
    _, _, links = classroom
    drivers = {prefix: _browser() for prefix in links}
    yield drivers
    for d in drivers.values():
        d.quit()


def screenshot(driver: webdriver.Chrome, name: str) -> None:
    """Keep what the browser showed (``HUB_SCREENSHOTS``, else the temporary directory)."""
    where = Path(os.environ.get("HUB_SCREENSHOTS") or tempfile.gettempdir())
    where.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(where / f"hub-{name}.png"))
    print(f"screenshot: {where / f'hub-{name}.png'}")


def sign_in(driver: webdriver.Chrome, link: str) -> None:
    """Open the link, press *Sign in*; the code is filled in from the link."""
    driver.get(link)
    button = WebDriverWait(driver, 30).until(ec.element_to_be_clickable((By.ID, "login_submit")))
    button.click()
    WebDriverWait(driver, 60).until(ec.staleness_of(button))  # the answer's page is there


def login_error(driver: webdriver.Chrome) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, ".login_error")
    return (found[0].get_attribute("textContent") or "").strip() if found else ""


def wait_for_lab(driver: webdriver.Chrome, prefix: str) -> float:
    """Seconds until the learner's JupyterLab shows its file browser."""
    started = time.monotonic()
    WebDriverWait(driver, START_SECONDS).until(
        lambda d: (
            f"/user/{prefix}/lab" in d.current_url
            and d.find_elements(By.CSS_SELECTOR, ".jp-DirListing-content")
        )
    )
    return time.monotonic() - started


def open_notebook(driver: webdriver.Chrome, prefix: str, path: str) -> None:
    """Open ``path`` in the learner's JupyterLab; wait until it is the current tab, its cells
    are shown and its kernel is idle (the status bar speaks for the current tab only)."""
    driver.get(f"{_base(driver)}/user/{prefix}/lab/tree/{path}")
    WebDriverWait(driver, 120).until(
        lambda d: d.execute_script(
            "const tab = document.querySelector("
            "'.lm-DockPanel-tabBar .lm-mod-current .lm-TabBar-tabLabel');"
            "const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');"
            "return tab && tab.textContent === arguments[0] && panel && "
            "panel.querySelectorAll('.jp-Cell').length > 3;",
            path.rsplit("/", 1)[-1],
        )
    )
    kernel_idle(driver, 120)


def kernel_idle(driver: webdriver.Chrome, timeout: float) -> None:
    """Wait until the status bar says the notebook's kernel is idle."""
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script(
            "const bar = document.querySelector('#jp-main-statusbar');"
            "return bar && /\\| Idle/.test(bar.innerText);"
        )
    )


def _base(driver: webdriver.Chrome) -> str:
    url = driver.current_url
    return url[: url.index("/", len("http://"))]


def run_all(driver: webdriver.Chrome) -> None:
    """*Run* ▸ *Run All Cells*, as a learner clicks it; wait until the kernel is idle again."""
    driver.find_element(By.XPATH, "//li[contains(@class,'lm-MenuBar-item')][.='Run']").click()
    WebDriverWait(driver, 10).until(
        ec.element_to_be_clickable(
            (By.XPATH, "//li[contains(@class,'lm-Menu-item')][.//div[.='Run All Cells']]")
        )
    ).click()
    time.sleep(2)
    WebDriverWait(driver, RUN_ALL_SECONDS).until(
        lambda d: (
            not d.find_elements(
                By.XPATH, "//div[contains(@class,'jp-InputPrompt')][contains(.,'[*]')]"
            )
        )
    )
    kernel_idle(driver, 60)


def save(driver: webdriver.Chrome) -> None:
    driver.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden)").click()
    chain = webdriver.ActionChains(driver)
    chain.key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL).perform()
    time.sleep(2)


def saved_notebook(driver: webdriver.Chrome, prefix: str, path: str) -> dict:
    """The notebook as the learner's server stored it (the page's own session asks)."""
    text = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"fetch('/user/{prefix}/api/contents/{path}?content=1', "
        "{credentials: 'same-origin', headers: {'X-XSRFToken': "
        "(document.cookie.match(/_xsrf=([^;]+)/) || [])[1]}})"
        ".then(r => r.text()).then(done, e => done(String(e)));"
    )
    answer = json.loads(text)
    assert "content" in answer, f"the server did not give the notebook: {text[:200]}"
    return answer["content"]


def set_cell(driver: webdriver.Chrome, index: int, source: str) -> None:
    """Replace code cell ``index``'s text, as typing would (through its CodeMirror view)."""
    driver.execute_script(
        "document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook "
        ".jp-Cell')[arguments[0]].scrollIntoView({block: 'center'});",
        index,
    )
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script(
            "const c = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
            ".jp-Notebook .jp-Cell')[arguments[0]].querySelector('.cm-content');"
            "return !!(c && c.cmView);",
            index,
        )
    )
    driver.execute_script(
        "const cells = document.querySelectorAll("
        "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell');"
        "const view = cells[arguments[0]].querySelector('.cm-content').cmView.view;"
        "view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: arguments[1]}});",
        index,
        source,
    )


def run_cell(driver: webdriver.Chrome, index: int) -> str:
    """Run cell ``index`` (Shift+Enter in it); its output's text once the kernel is idle."""
    cells = driver.find_elements(
        By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"
    )
    editor = cells[index].find_element(By.CSS_SELECTOR, ".cm-content")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", editor)
    WebDriverWait(driver, 30).until(lambda d: editor.is_displayed())
    editor.click()
    webdriver.ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(
        Keys.SHIFT
    ).perform()
    time.sleep(1)
    WebDriverWait(driver, RUN_ALL_SECONDS).until(
        lambda d: "[*]" not in cells[index].find_element(By.CSS_SELECTOR, ".jp-InputPrompt").text
    )
    return cells[index].find_element(By.CSS_SELECTOR, ".jp-Cell-outputWrapper").text


# -- the hub's identity ------------------------------------------------------------------------
def test_the_hub_holds_only_what_spawning_needs(classroom, course: Course) -> None:
    ws, _, links = classroom
    hub = hub_username(ws.name)
    authz = client.AuthorizationV1Api(course.api)

    def may(verb: str, resource: str, namespace: str = "", group: str = "") -> bool:
        review = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=hub,
                groups=["system:serviceaccounts", "system:authenticated"],
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb, resource=resource, namespace=namespace, group=group
                ),
            )
        )
        return authz.create_subject_access_review(review).status.allowed

    first, second = sorted(links)
    for prefix in (first, second):
        home = f"{prefix}-{policy.HOME}"
        for verb in ("create", "delete", "get", "list", "watch"):
            assert may(verb, "pods", home), (verb, home)
        assert may("list", "events", home)
        assert not may("create", "pods/exec", home)
        assert not may("get", "secrets", home)
        assert not may("create", "serviceaccounts/token", home)
        assert not may("create", "pods", names.ns("controller-ns", prefix))
    assert may("create", "tokenreviews", group="authentication.k8s.io")
    assert not may("list", "pods")  # not across the cluster
    assert not may("create", "pods", "default")
    assert not may("create", "pods", "kube-system")
    assert not may("create", "subjectaccessreviews", group="authorization.k8s.io")
    # and a learner may not start Pods in their own home: only the hub does
    learner = policy.learner_username(first)
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=learner,
            groups=["system:serviceaccounts", "system:authenticated"],
            resource_attributes=client.V1ResourceAttributes(
                verb="create", resource="pods", namespace=f"{first}-{policy.HOME}"
            ),
        )
    )
    assert not authz.create_subject_access_review(review).status.allowed
    # nor become the hub: no token of its account, no namespace or account of its name
    workshop_ns = hub.split(":")[2]
    for verb, resource, namespace, name in (
        ("create", "serviceaccounts/token", workshop_ns, "hub"),
        ("create", "serviceaccounts", workshop_ns, ""),
        ("get", "secrets", workshop_ns, "hub-anchor"),
    ):
        group_resource, _, sub = resource.partition("/")
        review = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=learner,
                groups=["system:serviceaccounts", "system:authenticated"],
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb,
                    resource=group_resource,
                    subresource=sub or None,
                    namespace=namespace or None,
                    name=name or None,
                ),
            )
        )
        assert not authz.create_subject_access_review(review).status.allowed, (verb, resource)
    # RBAC cannot limit `create namespaces` by name: the learner rules (admission) must refuse
    own = config.new_client_from_config(config_file=str(ws.dir / f"{first}.kubeconfig"))
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(own).create_namespace({"metadata": {"name": workshop_ns}})
    assert refused.value.status == 403, refused.value.body


# -- sign-in ------------------------------------------------------------------------------------
def test_a_wrong_code_gets_one_sentence(classroom, browsers) -> None:
    _, hub, _links = classroom
    driver = next(iter(browsers.values()))
    sign_in(driver, f"{hub.settings.url}/hub/login?code=not.a.code")
    assert login_error(driver) == NOT_VALID


def what_the_cluster_shows(course: Course, prefix: str) -> str:
    """A learner's JupyterLab Pods and their home's events, for a failure's log (names,
    phases, restarts, why a container ended; no credential)."""
    home = f"{prefix}-{policy.HOME}"
    lines = [f"{home}, as the cluster shows it:"]
    try:
        for pod in course.core.list_namespaced_pod(home, _request_timeout=30).items:
            lines.append(
                f"  pod {pod.metadata.name} created {pod.metadata.creation_timestamp} "
                f"phase {pod.status.phase} deleting {pod.metadata.deletion_timestamp}"
            )
            for c in pod.status.container_statuses or []:
                ended = c.last_state.terminated if c.last_state else None
                why = (
                    f"{ended.reason} (exit {ended.exit_code}) at {ended.finished_at}"
                    if ended
                    else ""
                )
                lines.append(f"    {c.name}: restarts {c.restart_count} {why}".rstrip())
        events = course.core.list_namespaced_event(home, _request_timeout=30).items
        for e in sorted(events, key=lambda e: str(e.last_timestamp or e.event_time))[-20:]:
            lines.append(
                f"  {e.last_timestamp or e.event_time} {e.type} {e.reason} "
                f"{e.involved_object.name}: {e.message}"
            )
    except ApiException as exc:
        lines.append(f"  (could not read it: {exc.status} {exc.reason})")
    return "\n".join(lines)


def test_two_learners_sign_in_and_run_notebook_01(classroom, browsers, course: Course) -> None:
    _ws, _hub, links = classroom
    path = "notebooks/01_service_accounts.ipynb"

    def one(prefix: str) -> tuple[str, float, dict]:
        driver = browsers[prefix]
        try:
            sign_in(driver, links[prefix].read_text().strip())
            assert not login_error(driver)
            ready = wait_for_lab(driver, prefix)
            open_notebook(driver, prefix, path)
            run_all(driver)
            save(driver)
            return prefix, ready, saved_notebook(driver, prefix, path)
        except Exception:
            screenshot(driver, f"{prefix}-notebook-01")
            print(what_the_cluster_shows(course, prefix))
            raise

    with ThreadPoolExecutor(len(browsers)) as pool:
        results = list(pool.map(one, sorted(browsers)))
    memory = pod_memory_mib(course, {f"{p}-{policy.HOME}" for p in browsers})
    for prefix, ready, nb in results:
        print(f"{prefix}: JupyterLab ready {ready:.1f}s after sign-in")
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(c["execution_count"] for c in code), prefix
        errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
        assert not errors, (prefix, errors[:1])
        assert any(c["outputs"] for c in code)
    print(
        "memory of each server with notebook 01's kernel:", {k: round(v) for k, v in memory.items()}
    )
    # the link signed in once: the same link again is refused
    prefix = sorted(links)[0]
    other = _browser()
    try:
        sign_in(other, links[prefix].read_text().strip())
        assert login_error(other) == USED
    finally:
        other.quit()


def test_a_lab_question_is_correct_in_the_browser(classroom, browsers) -> None:
    ws, _, links = classroom
    prefix = sorted(links)[0]
    driver = browsers[prefix]
    path = "labs/04_least_privilege_lab.ipynb"
    open_notebook(driver, prefix, path)
    assert "Not attempted" not in run_cell(driver, 2)  # the set-up cell
    set_cell(
        driver,
        4,
        "%%bash\nkubectl create role log-reader -n $LAB_04_RBAC --verb=get,list,watch "
        "--resource=pods\nkubectl patch role log-reader -n $LAB_04_RBAC --type=json -p "
        '\'[{"op":"add","path":"/rules/-","value":{"apiGroups":[""],"resources":["pods/log"],'
        '"verbs":["get"]}}]\'',
    )
    run_cell(driver, 4)
    assert "Correct" in run_cell(driver, 5)
    # the check records it (in the background) where the instructor's board reads it
    deadline = time.monotonic() + 60
    while True:
        row = board.board(ws).loc[prefix]
        if str(row["lab04.q1"]).startswith("✓") or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert str(row["lab04.q1"]).startswith("✓"), row.to_dict()


def test_a_learner_cannot_open_another_learners_server(classroom, browsers) -> None:
    _, hub, links = classroom
    first, second = sorted(links)
    driver = browsers[first]
    driver.get(f"{hub.settings.url}/user/{second}/lab")
    time.sleep(2)
    assert not driver.find_elements(By.CSS_SELECTOR, ".jp-DirListing-content")
    assert "403" in driver.page_source or "Forbidden" in driver.page_source


#: Run in learner A's JupyterLab Pod (as its terminal would): ask B's server and the hub with
#: no token and with A's own hub token; redirects are not followed (a 302 is a refusal).
PROBE = r"""
import json, os, socket, sys, urllib.error, urllib.request

class Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None

open_url = urllib.request.build_opener(Stay).open
mine = {"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]}
hub = os.environ["JUPYTERHUB_API_URL"]
asks = {}
for url, method in json.loads(sys.argv[1]):
    for who, headers in (("no token", {}), ("own token", mine)):
        req = urllib.request.Request(url.replace("HUB", hub), headers=headers, method=method)
        try:
            with open_url(req, timeout=10) as r:
                asks[f"{method} {url} {who}"] = r.status
        except urllib.error.HTTPError as e:
            asks[f"{method} {url} {who}"] = e.code
host, port = sys.argv[2].split(":")
try:
    socket.create_connection((host, int(port)), timeout=5).close()
    asks["proxy API"] = "open"
except OSError:
    asks["proxy API"] = "refused"
print(json.dumps(asks))
"""


def test_a_learners_pod_cannot_use_another_learners_server(classroom, course: Course) -> None:
    """Past the proxy: A's Pod asks B's server at its Pod IP, and the hub's API, directly."""
    _, hub, links = classroom
    first, second = sorted(links)

    def running_pod(prefix: str):
        pods = course.core.list_namespaced_pod(f"{prefix}-{policy.HOME}", _request_timeout=30)
        return next(p for p in pods.items if p.status.phase == "Running")

    a, b = running_pod(first), running_pod(second)
    server = f"http://{b.status.pod_ip}:8888/user/{second}"
    own = f"http://{a.status.pod_ip}:8888/user/{first}"
    asks = [
        (f"{own}/api/contents", "GET"),
        (f"{server}/api/contents", "GET"),
        (f"{server}/lab", "GET"),
        (f"{server}/api/kernels", "POST"),
        (f"HUB/users/{second}", "GET"),
        (f"HUB/users/{second}/server", "DELETE"),
        (f"HUB/users/{second}/tokens", "POST"),
    ]
    settings = json.loads(hub.settings_file.read_text())
    proxy_api = f"{settings['hub_ip']}:{settings['proxy_api_port']}"
    out = exec_in_pod(
        course.core,
        a.metadata.namespace,
        a.metadata.name,
        ["python3", "-c", PROBE, json.dumps(asks), proxy_api],
    )
    answers = json.loads(out.stdout)
    print("learner A's Pod, asking for B's server:", answers)
    # the probe works: A's own server, with A's own token, answers
    assert answers.pop(f"GET {own}/api/contents own token") == 200, answers
    assert answers.pop(f"GET {own}/api/contents no token") == 403, answers
    assert answers.pop("proxy API") == "refused"
    assert len(answers) == 2 * (len(asks) - 1)
    assert all(code in (302, 401, 403, 404) for code in answers.values()), answers


def test_extend_renews_the_hub_and_keeps_the_servers(classroom, browsers) -> None:
    ws, hub, links = classroom
    first = sorted(links)[0]
    ws.extend(3600)
    assert set(hub.extend(3600)) == set(links)  # a new token for the hub, new links
    assert hub.healthy()
    driver = browsers[first]
    driver.get(f"{hub.settings.url}/user/{first}/lab")
    assert wait_for_lab(driver, first) < 30  # still signed in, the same server


def test_a_cut_off_learner_page_stops_working(classroom, browsers, course: Course) -> None:
    ws, hub, links = classroom
    prefix = sorted(links)[1]
    driver = browsers[prefix]
    unused = hub.hand_out([prefix], 3600)[prefix].read_text().strip()  # handed out, not used
    ws.cut_off(prefix)
    hub.forget(prefix)
    driver.get(f"{hub.settings.url}/user/{prefix}/lab")
    time.sleep(2)
    assert not driver.find_elements(By.CSS_SELECTOR, ".jp-DirListing-content")
    assert "/hub/login" in driver.current_url
    core = course.core
    pods = core.list_namespaced_pod(f"{prefix}-{policy.HOME}").items
    assert not [p for p in pods if p.metadata.deletion_timestamp is None]
    # a link handed out before the cut-off no longer signs in: its anchor is gone
    sign_in(driver, unused)
    assert login_error(driver) == NOT_VALID, driver.current_url
