using System;
using System.CommandLine;
using System.Linq;
using System.Reflection;

namespace KernelHarness.Cli;

/// <summary>
/// The <c>kh</c> command line. The root command is built from every <c>public static Command Create()</c>
/// factory of the classes in <c>KernelHarness.Cli.Commands</c> (src/kh/Commands/*.cs): to add a command,
/// add a file there; nothing else needs to change.
/// </summary>
public static class Program
{
    public static int Main(string[] args) => BuildRootCommand().Parse(args).Invoke();

    public static RootCommand BuildRootCommand()
    {
        var root = new RootCommand("kh: KernelHarness, Linux kernel programming on a deterministic simulated kernel.");
        foreach (var factory in CommandFactories())
            root.Add(factory());
        return root;
    }

    /// <summary>The command factories, in the order of their command names (deterministic help output).</summary>
    internal static Func<Command>[] CommandFactories() =>
        typeof(Program).Assembly.GetTypes()
            .Where(t => t.Namespace == "KernelHarness.Cli.Commands" && t.IsClass && t.IsAbstract && t.IsSealed) // static classes
            .Select(t => t.GetMethod("Create", BindingFlags.Public | BindingFlags.Static, Type.EmptyTypes))
            .Where(m => m is not null && m.ReturnType == typeof(Command))
            .Select(m => (Func<Command>)m!.CreateDelegate(typeof(Func<Command>)))
            .Select(f => (Name: f().Name, Factory: f))
            .OrderBy(x => x.Name, StringComparer.Ordinal)
            .Select(x => x.Factory)
            .ToArray();
}
