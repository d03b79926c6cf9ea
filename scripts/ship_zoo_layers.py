"""Write hwsim/zoo_layers/<model>.json: the layer lists of our model builders at 1x3x224x224.

They ship with the package so that `hwsim simulate --model NAME` needs no torch; run this after
changing hwsim/models.py or the shape propagation (tests/test_workload.py fails until you do).
Usage: python scripts/ship_zoo_layers.py
"""

from hwsim.io import write_atomic
from hwsim.models import MODEL_BUILDERS
from hwsim.workload import ZOO_LAYERS, ZOO_SHAPE, layers_from_module, layers_json


def main() -> None:
    for name, build in sorted(MODEL_BUILDERS.items()):
        path = write_atomic(ZOO_LAYERS / f"{name}.json", layers_json(layers_from_module(build(), ZOO_SHAPE)),
                            force=True)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
