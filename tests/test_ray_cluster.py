"""A sweep on a real Ray cluster: a head started with ``ray start --head`` on 127.0.0.1, reached by
``hwsim sweep --ray-address``, with Ray's token authentication on (the default for clusters from Ray 2.59 on),
gives the very table the process pool gives.  CI installs the ``ray`` extra, so this runs there."""

import os
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import CONFIGS

pytestmark = pytest.mark.slow

SPEC = """base: {base}
axes:
  array.rows: [8, 16]
  sram_kib.ifmap: [16, 64]
models: [resnet18]
precisions: [w8a8, w4a4]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster():
    """(address, environment) of a one-node Ray cluster on this machine, shared by this module's tests (a start and
    a stop cost about 11 s), stopped afterwards."""
    pytest.importorskip("ray")
    ray_cli = Path(sys.executable).parent / "ray"
    if not ray_cli.exists():
        ray_cli = shutil.which("ray")
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0"}
    port = _free_port()
    temp = Path("/tmp") / f"ray-{secrets.token_hex(4)}"  # Ray's socket paths must stay short
    subprocess.run([str(ray_cli), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                    "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats",
                    "--temp-dir", str(temp)], env=env, check=True, capture_output=True, timeout=180)
    try:
        yield f"127.0.0.1:{port}", env
    finally:
        subprocess.run([str(ray_cli), "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def test_a_sweep_on_a_started_ray_cluster_equals_the_process_pool(ray_cluster, tmp_path):
    address, env = ray_cluster
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(base=CONFIGS / "bitfusion_16x32.yaml"))
    run = [sys.executable, "-m", "hwsim", "sweep", str(spec), "--quiet"]
    cluster = subprocess.run(run + ["-o", str(tmp_path / "ray"), "--ray-address", address], env=env,
                             capture_output=True, text=True, timeout=600)
    assert cluster.returncode == 0, cluster.stderr
    assert f"on the Ray cluster at {address}" in cluster.stderr
    subprocess.run(run + ["-o", str(tmp_path / "pool"), "--jobs", "2"], env=env, check=True, capture_output=True,
                   timeout=600)
    on_ray, pooled = pq.read_table(tmp_path / "ray" / "sweep.parquet"), pq.read_table(tmp_path / "pool" / "sweep.parquet")
    assert on_ray.num_rows == 8
    assert on_ray.equals(pooled)
    assert (tmp_path / "ray" / "sweep.csv").read_bytes() == (tmp_path / "pool" / "sweep.csv").read_bytes()


def test_a_cluster_without_the_token_is_refused_in_one_line(ray_cluster, tmp_path):
    address, env = ray_cluster
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(base=CONFIGS / "bitfusion_16x32.yaml"))
    wrong = {**env, "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    p = subprocess.run([sys.executable, "-m", "hwsim", "sweep", str(spec), "-o", str(tmp_path / "out"), "--quiet",
                        "--ray-address", address], env=wrong, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("hwsim: error: "), p.stderr
    assert not (tmp_path / "out" / "sweep.parquet").exists()
