using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;

namespace KernelHarness.Analyzers.Benchmarks;

/// <summary>
/// The headline figure, in separate processes (<c>--processes N</c>): N rounds, each one process measuring the
/// baseline and then one measuring all KH analyzers (<c>--only</c>, five runs, the first left out as warm-up).
/// Each round's ratio of the two processes' median times is one sample, and the median of the samples is the
/// overhead. Pairing neighbouring processes cancels most of the drift of a shared VM, which moves the time of
/// whole processes by tens of percent; the range of the samples shows how much is left.
/// </summary>
public static class Processes
{
    private static readonly Regex RunLine = new(@"^(\w+): (\d+) ms wall, (\d+) ms CPU", RegexOptions.CultureInvariant);

    public static void Run(int rounds)
    {
        var wall = new List<double>();
        var cpu = new List<double>();
        for (int round = 1; round <= rounds; round++)
        {
            var baseline = Measure("baseline");
            var kh = Measure("kh");
            wall.Add(Program.Median(kh.Select(r => r.Wall)) / Program.Median(baseline.Select(r => r.Wall)));
            cpu.Add(Program.Median(kh.Select(r => r.Cpu)) / Program.Median(baseline.Select(r => r.Cpu)));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {round}: baseline {Program.Median(baseline.Select(r => r.Wall)):F0} ms, all KH {Program.Median(kh.Select(r => r.Wall)):F0} ms, ratio {wall[^1]:F2} (CPU {cpu[^1]:F2})"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{rounds} rounds: KH overhead {(Program.Median(wall) - 1) * 100:F0}% wall, {(Program.Median(cpu) - 1) * 100:F0}% CPU (median of the rounds' ratios; wall ratios {wall.Min():F2} to {wall.Max():F2})"));
    }

    /// <summary>One child process running one configuration: its runs after the first.</summary>
    private static List<(double Wall, double Cpu)> Measure(string configuration)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        // Started the way this process was: the app's dll through the dotnet host, or the apphost alone.
        var entry = Environment.GetCommandLineArgs()[0];
        if (entry.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            start.ArgumentList.Add(entry);
        start.ArgumentList.Add("--only");
        start.ArgumentList.Add(configuration);
        using var child = Process.Start(start)!;
        var runs = new List<(double, double)>();
        for (string? line; (line = child.StandardOutput.ReadLine()) is not null;)
        {
            var m = RunLine.Match(line);
            if (m.Success)
                runs.Add((double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture)));
        }
        child.WaitForExit();
        if (child.ExitCode != 0 || runs.Count < 2)
            throw new InvalidOperationException($"the {configuration} process exited with {child.ExitCode} after {runs.Count} runs");
        return runs.Skip(1).ToList();
    }
}
