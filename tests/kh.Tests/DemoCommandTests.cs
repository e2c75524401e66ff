using System.CommandLine;
using System.IO;
using System.Linq;
using KernelHarness.Cli;
using KernelHarness.Cli.Commands;
using Xunit;

namespace KernelHarness.Cli.Tests;

public class DemoCommandTests
{
    [Fact]
    public void Demo_prints_the_kernel_log_with_the_sleeping_in_atomic_bug_of_its_driver()
    {
        var output = new StringWriter();
        int exit = DemoCommand.Run(output);
        var text = output.ToString();
        Assert.Equal(0, exit);
        Assert.Matches(@"\[\s+\d+\.\d{6}\] BUG: sleeping function called from invalid context at SensorDriver\.cs:\d+", text);
        Assert.Contains("in_atomic(): 1, irqs_disabled(): 1, non_block: 0, pid: 2, name: sensor-poll", text);
        Assert.Contains("SensorDriver.poll_thread (SensorDriver.cs:", text);
        Assert.Contains("] sensor: loading", text);
        Assert.Contains("] sensor: read sample count", text);
        Assert.Contains("] sensor: unloaded after", text);
    }

    [Fact]
    public void Demo_through_the_command_line_parser_writes_to_the_configured_output()
    {
        var output = new StringWriter();
        int exit = Program.BuildRootCommand().Parse(new[] { "demo", "--seed", "7", "--cpus", "2" })
            .Invoke(new InvocationConfiguration { Output = output });
        Assert.Equal(0, exit);
        Assert.Contains("BUG: sleeping function called from invalid context at SensorDriver.cs:", output.ToString());
        Assert.Contains("(seed 7, 2 CPUs,", output.ToString());
    }

    [Fact]
    public void The_same_seed_prints_the_same_log()
    {
        var a = new StringWriter();
        var b = new StringWriter();
        DemoCommand.Run(a, seed: 3);
        DemoCommand.Run(b, seed: 3);
        Assert.Equal(a.ToString(), b.ToString());
    }

    [Fact]
    public void The_root_command_is_built_from_the_command_factories()
    {
        var root = Program.BuildRootCommand();
        Assert.Contains(root.Subcommands, c => c.Name == "demo");
        Assert.Equal(root.Subcommands.Select(c => c.Name).OrderBy(n => n, System.StringComparer.Ordinal), root.Subcommands.Select(c => c.Name));
    }
}
