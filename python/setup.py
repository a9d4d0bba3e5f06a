"""Builds the ravnest Python package with CMake, for `pip install --no-build-isolation ./python`.

The whole project is configured from the repository root, built without tests, and installed into the wheel's
build folder with libravnest bundled next to the `_C` module. The C++ dependencies come from Debian's packages
(run scripts/setup.sh once, or install them yourself); torch must be importable by the interpreter that runs
pip, hence --no-build-isolation.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from setuptools import Distribution, find_packages, setup
from setuptools.command.build_py import build_py

REPO = Path(__file__).resolve().parent.parent


class BuildWithCMake(build_py):
    def run(self):
        super().run()
        package_parent = Path(self.build_lib).resolve()
        build_dir = Path(os.environ.get("RAVNEST_PIP_BUILD_DIR", REPO / "build-pip"))
        jobs = os.environ.get("RAVNEST_JOBS", str(os.cpu_count() or 1))
        with tempfile.TemporaryDirectory() as prefix:
            subprocess.check_call([
                "cmake", "-S", str(REPO), "-B", str(build_dir),
                "-DCMAKE_BUILD_TYPE=Release",
                f"-DPython3_EXECUTABLE={sys.executable}",
                "-DRAVNEST_BUILD_TESTS=OFF",
                "-DRAVNEST_BUNDLE_LIBRARY=ON",
                f"-DRAVNEST_PYTHON_INSTALL_DIR={package_parent}",
            ])
            subprocess.check_call(["cmake", "--build", str(build_dir), "-j", jobs])
            subprocess.check_call(["cmake", "--install", str(build_dir), "--prefix", prefix])


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True


setup(
    cmdclass={"build_py": BuildWithCMake},
    distclass=BinaryDistribution,
    packages=find_packages(include=["ravnest", "ravnest.*"]),
    zip_safe=False,
)
