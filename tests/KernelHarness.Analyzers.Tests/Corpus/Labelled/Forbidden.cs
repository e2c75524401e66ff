// APIs a submission may not use (KH9001), next to the allowed ones.
using System.Collections.Generic;
using System.Linq;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.Forbidden;

public sealed class Logger
{
    private readonly List<string> lines = new();
    private readonly object gate = new();

    public void log(string s)
    {
        lines.Add(s);
        printk(KERN_INFO + s);
        System.Console.WriteLine(s); // expect: KH9001
    }

    public int count() => lines.Count(l => l.Length > 0);

    public void save() => System.IO.File.WriteAllLines("/tmp/log", lines); // expect: KH9001

    public void quit() => System.Environment.Exit(3); // expect: KH9001

    public void locked()
    {
        lock (gate) // expect: KH9001
        {
            lines.Clear();
        }
    }

    public long stamp() => System.DateTime.Now.Ticks; // expect: KH9001

    public ulong stamp_ok() => jiffies;

    public int roll() => new System.Random(42).Next(6); // expect: KH9001

    public string name() => string.Join(",", lines.Select(l => l.ToUpperInvariant()));
}
