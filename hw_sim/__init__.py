"""lockernet hw_sim: simulated lock boards, scanners, people and the fleet."""
