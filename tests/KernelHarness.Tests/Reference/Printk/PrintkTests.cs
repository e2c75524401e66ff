using System.Linq;
using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Reference.Printk;

public class PrintkTests
{
    [Fact]
    public void Printk_writes_to_the_kernel_log_with_its_level()
    {
        var m = Sim.Run(() =>
        {
            printk(KERN_INFO + "hello");
            printk("default level");
            pr_info("info");
            pr_warn("warn");
            pr_err("err");
            pr_debug("debug");
        });
        var lines = m.Log.Lines;
        Assert.Equal(new[] { "hello", "default level", "info", "warn", "err", "debug" }, lines.Select(l => l.Text));
        Assert.Equal(new[] { 6, KernelLog.DefaultLevel, 6, 4, 3, 7 }, lines.Select(l => l.Level));
    }

    [Fact]
    public void The_log_dumps_in_dmesg_format_with_seconds_since_boot()
    {
        var m = Sim.Run(() =>
        {
            pr_info("at boot");
            msleep(1500);
            pr_info("later");
        }, new MachineConfig { Cpus = 1 });
        var dmesg = m.Log.Dump().Split('\n');
        Assert.Equal("[    0.000000] at boot", dmesg[0]);
        Assert.Matches(@"^\[    1\.5[0-9]0000\] later$", dmesg[1]);
    }

    [Fact]
    public void A_multi_line_message_becomes_several_log_lines()
    {
        var m = Sim.Run(() => pr_info("one\ntwo\n"));
        Assert.Equal(new[] { "one", "two" }, m.Log.Lines.Select(l => l.Text));
    }

    [Fact]
    public void Log_lines_record_the_cpu()
    {
        int cpu = -1;
        var m = Sim.Run(() => { preempt_disable(); cpu = smp_processor_id(); pr_info("x"); preempt_enable(); });
        Assert.Equal(cpu, m.Log.Lines.Single().Cpu);
    }

    [Fact]
    public void Warn_on_reports_a_warning_with_the_call_site()
    {
        int line = 0;
        bool ret = false;
        var m = Sim.Run(() =>
        {
            ret = WARN_ON(true); line = Sim.Here();
            WARN_ON(false);
        });
        Assert.True(ret);
        var r = Sim.Single(m, ReportKind.Warning);
        Assert.Matches($@"^WARNING: CPU: \d PID: 1 at {System.Text.RegularExpressions.Regex.Escape(Sim.Site(line))}$", r.Title);
        Sim.InLog(m, r);
    }

    [Fact]
    public void Bug_on_kills_the_task_with_an_oops_instead_of_crashing_the_process()
    {
        bool after = false;
        var m = Sim.Run(() =>
        {
            BUG_ON(true);
            after = true;
        });
        Assert.False(after);
        var r = Sim.Single(m, ReportKind.Oops);
        Assert.StartsWith("kernel BUG at PrintkTests.cs:", r.Title);
        Sim.InLog(m, r);
    }

    [Fact]
    public void An_exception_in_a_kthread_is_an_oops_report()
    {
        var m = Sim.Run(() =>
        {
            kthread_run(_ => throw new System.InvalidOperationException("boom"), null, "crasher");
            msleep(10);
        });
        var r = Sim.Single(m, ReportKind.Oops);
        Assert.Contains("InvalidOperationException in task crasher/", r.Title);
        Assert.Contains("boom", r.Title);
    }
}
