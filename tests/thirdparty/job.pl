my %h; my $s = 0;
for my $i (1..1500000) { $h{$i % 100003} .= chr(65 + $i % 26) if $i % 7; $s = ($s * 31 + $i) % 1000000007; }
my $t = 0; for my $k (sort { $a <=> $b } keys %h) { $t = ($t * 131 + length($h{$k})) % 1000000007; }
print "$s $t\n";
