"""A synthetic council: a case database and a school roll that follow the source contract.

Used by the demo, the tests and the benchmark. Every person is made up (Faker ``en_GB``).
"""

from demo.generate import DemoSize, generate
from demo.markers import FORBIDDEN_MARKERS

__all__ = ["FORBIDDEN_MARKERS", "DemoSize", "generate"]
