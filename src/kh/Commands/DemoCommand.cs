using System;
using System.CommandLine;
using System.IO;
using KernelHarness.Cli.Demo;
using KernelHarness.Runtime;
using static KernelHarness.Kernel;

namespace KernelHarness.Cli.Commands;

/// <summary><c>kh demo</c>: loads the bundled example driver on the reference kernel and prints its kernel log.</summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var seed = new Option<ulong>("--seed") { Description = "The scheduler seed (the same seed gives the same run).", DefaultValueFactory = _ => 1 };
        var cpus = new Option<int>("--cpus") { Description = "Simulated CPUs.", DefaultValueFactory = _ => 4 };
        var command = new Command("demo",
            "Run a bundled example driver on the reference kernel and print its kernel log (dmesg), " +
            "including the BUG its deliberate mistake triggers.")
        {
            seed,
            cpus,
        };
        command.SetAction(parse => Run(parse.InvocationConfiguration.Output, parse.GetValue(seed), parse.GetValue(cpus)));
        return command;
    }

    /// <summary>Runs the demo and writes the kernel log to <paramref name="output"/>; the exit code is 0 when the run completed.</summary>
    public static int Run(TextWriter output, ulong seed = 1, int cpus = 4)
    {
        if (cpus < 1 || cpus > 64)
        {
            output.WriteLine("kh demo: --cpus must be between 1 and 64.");
            return 2;
        }
        var machine = new Machine(new MachineConfig { Seed = seed, Cpus = cpus });
        var outcome = machine.Run(() =>
        {
            var driver = new SensorDriver();
            if (driver.init() != 0)
                return;
            for (int i = 0; i < 3; i++)
                pr_info($"sensor: read sample count {driver.read_sample()}");
            driver.exit();
        });
        output.Write(machine.Log.Dump());
        output.WriteLine();
        output.WriteLine($"-- {machine.Reports.Count} report(s); run {outcome.ToString().ToLowerInvariant()} " +
                         $"(seed {seed}, {cpus} CPUs, {machine.Calls} kernel API calls). The driver is src/kh/Demo/SensorDriver.cs.");
        return outcome == RunOutcome.Completed ? 0 : 1;
    }
}
