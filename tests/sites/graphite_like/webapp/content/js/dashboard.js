// plotter dashboard stand-in
window.plotter = {version: "stand-in"};
