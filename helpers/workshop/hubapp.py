"""What runs inside the workshop's JupyterHub: its sign-in and its spawner.

The hub process loads these through the ``jupyterhub_config.py`` that :mod:`.hub` writes
(``configure(c, settings_file)``). Nothing here runs in the instructor's process.

- :class:`CodeAuthenticator` — a learner signs in with the code the instructor handed out;
  the hub asks the API server about it (:class:`helpers.workshop.signin.SignIn`, a
  TokenReview for the hub's own audience) and signs in the learner the API server names.
- :class:`LearnerSpawner` — KubeSpawner, with each learner's JupyterLab a Pod in their own
  ``<prefix>-home`` running as their ``learner`` ServiceAccount, from the course image,
  limited, with the Pod's projected token as its only credential.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from jupyterhub.auth import Authenticator
from kubespawner import KubeSpawner
from tornado import web
from traitlets import Unicode, default

from .hubimage import HOME
from .policy import HOME as HOME_SUFFIX
from .policy import LEARNER
from .signin import Refused, SignIn

__all__ = ["CodeAuthenticator", "LearnerSpawner", "configure"]

#: The sign-in page's form: one field, filled from ``?code=`` when the link carries one.
LOGIN_FORM = """
<form action="{{ authenticator_login_url }}" method="post" role="form" id="course-sign-in">
  <div class="auth-form-header"><h1>Sign in to the course</h1></div>
  <div class="auth-form-body m-auto">
    {% if login_error %}<p class="login_error">{{ login_error }}</p>{% endif %}
    <input type="hidden" name="_xsrf" value="{{ xsrf }}" />
    <input type="hidden" name="username" value="code" />
    <label for="code_input">Your sign-in code (from your instructor):</label>
    <textarea id="code_input" name="password" class="form-control" rows="4"
              autocomplete="off" spellcheck="false" autofocus="autofocus"></textarea>
    <div class="feedback-container">
      <input type="submit" id="login_submit" class="btn btn-jupyter form-control"
             value="Sign in" tabindex="3" />
    </div>
  </div>
</form>
<script>
  const code = new URLSearchParams(window.location.search).get("code");
  if (code) { document.getElementById("code_input").value = code; }
</script>
"""


class CodeAuthenticator(Authenticator):
    """Sign-in with a code: a learner's token for the hub, checked by the API server."""

    settings_file = Unicode(
        config=True, help="the hub's settings (written by helpers.workshop.hub)"
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from kubernetes import client, config

        from ..course import with_timeouts

        settings = json.loads(Path(self.settings_file).read_text())
        api = with_timeouts(config.new_client_from_config(config_file=settings["kubeconfig"]))
        self.signin = SignIn(client.AuthenticationV1Api(api), settings["learners"])

    def get_custom_html(self, base_url: str) -> str:
        return LOGIN_FORM

    async def authenticate(self, handler: web.RequestHandler, data: dict[str, str]) -> str:
        """The learner the code signs in; one sentence (a 403) for any other code."""
        try:
            return await asyncio.to_thread(self.signin.check, data.get("password", ""))
        except Refused as refused:
            raise web.HTTPError(403, str(refused)) from None


class LearnerSpawner(KubeSpawner):
    """A learner's JupyterLab: a Pod in ``<prefix>-home``, as that learner's ServiceAccount."""

    workshop = Unicode(config=True, help="the workshop's name (its learners' kubeconfigs carry it)")

    @default("namespace")
    def _learner_namespace(self) -> str:
        return f"{self.user.name}-{HOME_SUFFIX}"

    @default("environment")
    def _learner_environment(self) -> dict[str, str]:
        return {"COURSE_PREFIX": self.user.name, "COURSE_WORKSHOP": self.workshop}


def configure(c: Any, settings_file: str) -> None:
    """Fill JupyterHub's configuration ``c`` from the workshop's settings file."""
    s = json.loads(Path(settings_file).read_text())
    c.JupyterHub.authenticator_class = CodeAuthenticator
    c.CodeAuthenticator.settings_file = settings_file
    c.Authenticator.allow_all = True  # whoever the API server vouches for, on the roster
    c.Authenticator.admin_users = set()
    c.JupyterHub.spawner_class = LearnerSpawner
    c.LearnerSpawner.workshop = s["workshop"]
    c.JupyterHub.ip = s["ip"]
    c.JupyterHub.port = s["port"]
    c.JupyterHub.hub_ip = s["hub_ip"]
    c.JupyterHub.hub_port = s["hub_port"]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{s['proxy_api_port']}"
    c.ConfigurableHTTPProxy.command = [s["proxy"]]
    c.JupyterHub.db_url = f"sqlite:///{s['state']}/jupyterhub.sqlite"
    c.JupyterHub.cookie_secret_file = f"{s['state']}/jupyterhub_cookie_secret"
    c.JupyterHub.pid_file = f"{s['state']}/jupyterhub.pid"
    # the hub may restart (extend renews its token) with the learners' servers running;
    # the workshop's down deletes them with their namespaces
    c.JupyterHub.cleanup_servers = False
    c.JupyterHub.services = [{"name": "instructor", "api_token": s["instructor_token"]}]
    c.JupyterHub.load_roles = [
        {
            "name": "instructor",
            "scopes": ["admin:users", "admin:servers", "read:users"],
            "services": ["instructor"],
        }
    ]
    c.JupyterHub.shutdown_on_logout = True
    c.Spawner.default_url = "/lab"
    c.Spawner.start_timeout = s["start_timeout"]
    c.Spawner.http_timeout = s["start_timeout"]
    c.KubeSpawner.image = s["image"]
    c.KubeSpawner.image_pull_policy = s["pull_policy"]
    c.KubeSpawner.cmd = ["start-course"]
    c.KubeSpawner.service_account = LEARNER
    c.KubeSpawner.automount_service_account_token = True
    c.KubeSpawner.pod_name_template = "jupyterlab-{username}"
    c.KubeSpawner.uid = 1000
    c.KubeSpawner.gid = 1000
    c.KubeSpawner.fs_gid = 1000
    c.KubeSpawner.allow_privilege_escalation = False
    c.KubeSpawner.working_dir = HOME
    c.KubeSpawner.volumes = [{"name": "home", "emptyDir": {"sizeLimit": "512Mi"}}]
    c.KubeSpawner.volume_mounts = [{"name": "home", "mountPath": HOME}]
    c.KubeSpawner.mem_guarantee = s["mem_guarantee"]
    c.KubeSpawner.mem_limit = s["mem_limit"]
    c.KubeSpawner.cpu_guarantee = s["cpu_guarantee"]
    c.KubeSpawner.cpu_limit = s["cpu_limit"]
    c.KubeSpawner.extra_resource_limits = {"ephemeral-storage": "1Gi"}
    c.KubeSpawner.extra_resource_guarantees = {"ephemeral-storage": "64Mi"}
    c.KubeSpawner.delete_grace_period = 1
    c.KubeSpawner.k8s_api_request_timeout = 10
    c.KubeSpawner.k8s_api_request_retry_timeout = 30
    c.KubeSpawner.common_labels = s["labels"]
