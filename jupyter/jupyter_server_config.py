"""JupyterLab server configuration shared by the native lab and the Jupyter container.

Everything comes from the environment, so the same file serves both runtimes:

- ``JUPYTER_TOKEN`` (required, never empty): the token every request must carry.
- ``JUPYTER_IP`` (default 127.0.0.1; the container sets 0.0.0.0), ``JUPYTER_PORT`` (8888).
- ``JUPYTER_ROOT_DIR``: the notebook workspace (default: the current directory).
- ``JUPYTER_CERTFILE`` / ``JUPYTER_KEYFILE``: PEM files; when both are set the server speaks
  only HTTPS.
- ``HUNTLAB_PUBLISHED_IP``: where the host publishes this server when that is not
  ``JUPYTER_IP`` (in a container, ``JUPYTER_IP`` is 0.0.0.0 of the container's own network).

Beyond loopback the server refuses to start without a certificate: the token must not cross
a network in clear text.
"""

# ruff: noqa: F821  (`c` is injected by Jupyter's config loader)
import os

c = get_config()  # type: ignore[name-defined]

# A hunter's server on the team server (jupyterhub-singleuser): the hub logs users in and
# tells the server where to listen; the token and the door below are the single lab's.
_hub = bool(os.environ.get("JUPYTERHUB_API_TOKEN"))
if not _hub:
    _token = os.environ.get("JUPYTER_TOKEN", "").strip()
    if not _token:
        # An empty token would disable authentication: refuse to start rather than serve openly.
        raise SystemExit(
            "jupyter_server_config.py: JUPYTER_TOKEN is empty; start the lab with `huntlab up` "
            "(it sets the token) or export JUPYTER_TOKEN"
        )

    c.IdentityProvider.token = _token
    # Logging in with the token must not let anyone set a password that outlives a token rotation.
    c.PasswordIdentityProvider.allow_password_change = False
    c.ServerApp.ip = os.environ.get("JUPYTER_IP", "127.0.0.1")
    c.ServerApp.port = int(os.environ.get("JUPYTER_PORT", "8888"))
    # Fail instead of silently moving to another port: the lab prints and records this one.
    c.ServerApp.port_retries = 0
    c.ServerApp.open_browser = False
    # Containers and CI machines often run as root; the token still guards the server.
    c.ServerApp.allow_root = hasattr(os, "geteuid") and os.geteuid() == 0
    c.ServerApp.root_dir = os.environ.get("JUPYTER_ROOT_DIR", os.getcwd())
    if c.ServerApp.ip not in ("127.0.0.1", "localhost", "::1"):
        c.ServerApp.allow_remote_access = True

    _cert = os.environ.get("JUPYTER_CERTFILE", "")
    _key = os.environ.get("JUPYTER_KEYFILE", "")
    if bool(_cert) != bool(_key):
        raise SystemExit("jupyter_server_config.py: set both JUPYTER_CERTFILE and JUPYTER_KEYFILE")
    if _cert:
        c.ServerApp.certfile = _cert
        c.ServerApp.keyfile = _key
    _published = os.environ.get("HUNTLAB_PUBLISHED_IP", c.ServerApp.ip)
    if _published not in ("127.0.0.1", "localhost", "::1") and not _cert:
        raise SystemExit(
            f"jupyter_server_config.py: JupyterLab would be reachable on {_published} over plain "
            "HTTP; give it a certificate (huntlab up --tls, or --tls-cert and --tls-key)"
        )

# huntlab's login page (server-templates/ beside this file): how to get this lab's token,
# instead of Jupyter's advice to run `jupyter server list` or set a password.
_templates = os.path.join(os.path.dirname(os.path.abspath(__file__)), "server-templates")
if not os.path.isfile(os.path.join(_templates, "login.html")):
    raise SystemExit(f"jupyter_server_config.py: {_templates}/login.html is missing; reinstall")
c.ServerApp.extra_template_paths = [_templates]

# The lab runs offline as often as not: no update checks or news fetched at start.
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.news_url = None
# Idle kernels hold a Spark driver JVM each; free them after an hour without activity.
c.MappingKernelManager.cull_idle_timeout = 3600
c.MappingKernelManager.cull_interval = 300
