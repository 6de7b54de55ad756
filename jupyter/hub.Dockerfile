# The team server's hub (docker/compose.team.yaml), on the lab's Jupyter image: JupyterHub and
# huntlab's authenticator are there already; this adds its proxy (configurable-http-proxy, at
# the version and Subresource Integrity hash of src/huntlab/versions.env) and DockerSpawner.
# Build context: the repository root.
ARG BASE_IMAGE=huntlab/jupyter:latest

# npm only to fetch and install the proxy; the hub's image keeps Node.js alone.
FROM ${BASE_IMAGE} AS proxy
# hadolint ignore=DL3002
USER 0
WORKDIR /opt/chp
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends npm \
 && rm -rf /var/lib/apt/lists/*
ARG CHP_VERSION
ARG CHP_INTEGRITY
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The optional pip_ca secret: a TLS-inspecting proxy's CA (the test suite's), for npm too.
RUN --mount=type=secret,id=pip_ca,required=false \
    if [[ -f /run/secrets/pip_ca ]]; then export npm_config_cafile=/run/secrets/pip_ca; fi \
 && npm pack --silent "configurable-http-proxy@${CHP_VERSION}" \
 && got="sha512-$(openssl dgst -sha512 -binary "configurable-http-proxy-${CHP_VERSION}.tgz" | base64 -w0)" \
 && if [[ $got != "${CHP_INTEGRITY}" ]]; then \
      echo "configurable-http-proxy-${CHP_VERSION}.tgz: $got is not the pinned ${CHP_INTEGRITY}" >&2; exit 1; fi \
 && npm install --no-audit --no-fund --omit=dev --prefix /opt/chp "./configurable-http-proxy-${CHP_VERSION}.tgz" \
 && rm "configurable-http-proxy-${CHP_VERSION}.tgz"

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="huntlab-hub" \
      org.opencontainers.image.description="JupyterHub for huntlab's team server, with DockerSpawner"
# The hub runs as root: it drives the Docker engine (the socket) to start hunters' containers.
# hadolint ignore=DL3002
USER 0
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs \
 && rm -rf /var/lib/apt/lists/*
COPY --from=proxy /opt/chp /opt/chp
ARG DOCKERSPAWNER_VERSION
RUN --mount=type=secret,id=pip_ca,required=false \
    if [ -f /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
 && /opt/huntlab/venv/bin/pip install --no-cache-dir "dockerspawner==${DOCKERSPAWNER_VERSION}" \
 && /opt/huntlab/venv/bin/pip check
ENV PATH=/opt/chp/node_modules/.bin:$PATH \
    HUNTLAB_HOME=/srv/huntlab \
    HUNTLAB_HUB_RUNTIME=docker
WORKDIR /srv/huntlab
EXPOSE 8443 8081
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=12 \
  CMD ["curl", "-fsSk", "https://localhost:8443/hub/api"]
CMD ["python", "-m", "jupyterhub", "-f", "/opt/huntlab/src/jupyter/jupyterhub_config.py"]
