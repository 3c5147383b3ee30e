// Draws each .chart[data-chart] with ECharts (vendored); no inline script, so the CSP holds.
document.addEventListener("DOMContentLoaded", function () {
  if (!window.echarts) return;
  document.querySelectorAll(".chart[data-chart]").forEach(function (el) {
    var data = JSON.parse(el.getAttribute("data-chart"));
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      color: ["#0b4fb3"],
      grid: { left: 48, right: 16, top: 16, bottom: 32 },
      xAxis: { type: "category", data: data.labels, axisLabel: { color: "#1b1f24" } },
      yAxis: { type: "value", axisLabel: { color: "#1b1f24" } },
      series: [{ type: "bar", data: data.values }],
    });
    el.setAttribute("data-drawn", "true");
    window.addEventListener("resize", function () { chart.resize(); });
  });
});
