"""What each scene of the real-sound benchmark sounds like: its events and their odds.

Three pairs of scenes share a background type and differ mainly by their events (forest and
park: birdsong; riverside and harbour: water; street_traffic and public_square: traffic), so
the events carry the information a relation-guided model can use. Labels are AudioSet display
names (the teacher's label space).
"""

from __future__ import annotations

# Events per scene: probability that a clip contains the event (perturbed per location).
SCENE_EVENTS: dict[str, dict[str, float]] = {
    "forest": {
        "Bird vocalization, bird call, bird song": 0.75,
        "Walk, footsteps": 0.15,
        "Frog": 0.1,
        "Power tool": 0.08,
        "Aircraft": 0.08,
        "Dog": 0.05,
        "Thunder": 0.05,
    },
    "park": {
        "Dog": 0.5,
        "Walk, footsteps": 0.5,
        "Children playing": 0.35,
        "Bird vocalization, bird call, bird song": 0.3,
        "Speech": 0.2,
        "Duck": 0.15,
        "Vehicle horn, car horn, honking": 0.08,
        "Aircraft": 0.08,
    },
    "farm": {
        "Cattle, bovinae": 0.45,
        "Chicken, rooster": 0.45,
        "Sheep": 0.35,
        "Horse": 0.3,
        "Dog": 0.3,
        "Truck": 0.15,
        "Bird vocalization, bird call, bird song": 0.15,
        "Door": 0.05,
    },
    "riverside": {
        "Duck": 0.5,
        "Bird vocalization, bird call, bird song": 0.35,
        "Splash, splatter": 0.35,
        "Frog": 0.3,
        "Dog": 0.2,
        "Walk, footsteps": 0.2,
        "Gull, seagull": 0.05,
    },
    "harbour": {
        "Gull, seagull": 0.6,
        "Clang": 0.35,
        "Motorboat, speedboat": 0.35,
        "Truck": 0.25,
        "Bell": 0.2,
        "Splash, splatter": 0.15,
        "Speech": 0.15,
        "Vehicle horn, car horn, honking": 0.05,
    },
    "street_traffic": {
        "Vehicle horn, car horn, honking": 0.6,
        "Motorcycle": 0.35,
        "Truck": 0.35,
        "Siren": 0.3,
        "Walk, footsteps": 0.1,
        "Speech": 0.05,
        "Dog": 0.05,
        "Aircraft": 0.05,
    },
    "public_square": {
        "Walk, footsteps": 0.5,
        "Speech": 0.4,
        "Bell": 0.35,
        "Children playing": 0.2,
        "Dog": 0.2,
        "Vehicle horn, car horn, honking": 0.15,
        "Bird vocalization, bird call, bird song": 0.15,
        "Motorcycle": 0.1,
        "Siren": 0.05,
    },
    "storm": {
        "Thunder": 0.75,
        "Door": 0.1,
        "Dog": 0.05,
        "Siren": 0.05,
        "Vehicle horn, car horn, honking": 0.05,
    },
    "workshop": {
        "Hammer": 0.5,
        "Clang": 0.5,
        "Power tool": 0.4,
        "Steam": 0.3,
        "Jackhammer": 0.25,
        "Door": 0.15,
        "Speech": 0.1,
        "Truck": 0.1,
    },
    "market": {
        "Speech": 0.5,
        "Cash register": 0.4,
        "Walk, footsteps": 0.4,
        "Door": 0.3,
        "Bell": 0.15,
        "Children playing": 0.15,
        "Clang": 0.1,
        "Dog": 0.05,
    },
}
# Events made of one short recording repeated: (min count, max count, min gap s, max gap s).
REPEATED: dict[str, tuple[int, int, float, float]] = {"Walk, footsteps": (3, 8, 0.42, 0.62)}
