# bench/plot.gp: throughput against requests in flight, one line per target.
# bench/run writes the data and runs
#   gnuplot -e "data='depth.dat'; out='depth.png'; ncols=5; subtitle='...'" bench/plot.gp
# data: a header row ("depth", then one quoted title per target), then one
# row per depth: the depth and each target's ops/s, NaN where none.
if (!exists("data") || !exists("out")) { print "set data and out with -e"; exit status 2 }
if (!exists("ncols")) ncols = 5
if (!exists("subtitle")) subtitle = ""

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 1000,640 enhanced font "sans,11"
} else {
  set terminal png size 1000,640
}
set output out
set title "gets per second against requests in flight, 1 connection\n{/*0.8 ".subtitle."}"
set xlabel "requests in flight (depth), 1 connection"
set ylabel "gets per second"
set logscale x 2
set xtics (1, 2, 4, 8, 16, 32, 64, 128, 256)
set offsets graph 0.03, graph 0.03, 0, 0
set format y "%.0s%c"
set yrange [0:*]
set grid
set key top left box opaque Left reverse width 1 spacing 1.2
set datafile missing "NaN"
plot for [i=2:ncols] data using 1:i with linespoints linewidth 2 pointsize 1.3 title columnheader(i)
