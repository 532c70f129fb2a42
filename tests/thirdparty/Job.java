// Job.java - a JVM workload for thirdparty.bats: a hash and a growing list.
public class Job {
  public static void main(String[] a) {
    long h = 0; java.util.ArrayList<Long> l = new java.util.ArrayList<>();
    for (int i = 0; i < 3000; i++) {
      long x = 0; for (int k = 0; k < 400000; k++) x = (x * 31 + k + i) % 1000003;
      l.add(x); h = (h * 131 + x) % 1000000007L;
      if (i % 300 == 0) System.out.println(i + " " + h);
    }
    System.out.println("done " + h + " " + l.size());
  }
}
