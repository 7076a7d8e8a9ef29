# CPU and RSS per request against requests in flight (bench/run.sh).
#   gnuplot -e "datafile='scale.dat'; outfile='scale.svg'" bench/scale.gp
# datafile columns: n cpu_us_per_req rss_kib_per_in_flight ok
set terminal svg size 760,440 dynamic background rgb 'white' font 'sans,12'
set output outfile
set title 'libllmorch: streams held open at once (mock server, loopback)'
set xlabel 'requests in flight'
set logscale x
set xrange [50:20000]
set xtics ('100' 100, '1,000' 1000, '10,000' 10000)
set ylabel 'engine CPU per request (µs)'
set y2label 'RSS per in-flight request (KiB)'
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key top left
set grid xtics ytics
plot datafile using 1:2 axes x1y1 with linespoints lw 2 pt 7 title 'CPU µs / request', \
     datafile using 1:3 axes x1y2 with linespoints lw 2 pt 5 title 'RSS KiB / in-flight request'
