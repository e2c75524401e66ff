using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;

namespace KernelHarness.Conformance;

/// <summary>One conformance test, as the catalog knows it.</summary>
public sealed class ConformanceTestInfo
{
    internal ConformanceTestInfo(string subsystem, MethodInfo method, ConformanceTestAttribute attribute)
    {
        Subsystem = subsystem;
        Method = method;
        Attribute = attribute;
        Name = method.Name;
        Id = $"{subsystem}/{attribute.Group}/{method.Name}";
    }

    /// <summary><c>subsystem/group/name</c>: stable, used by assignments, reports and <c>kh replay</c>.</summary>
    public string Id { get; }

    public string Subsystem { get; }
    public string Name { get; }
    public string Group => Attribute.Group;
    public string Linux => Attribute.Linux;
    public ulong DefaultSeed => Attribute.Seed;
    public TestVisibility Visibility => Attribute.Visibility;
    public string? Description => Attribute.Description;
    internal MethodInfo Method { get; }
    internal ConformanceTestAttribute Attribute { get; }

    public override string ToString() => Id;
}

/// <summary>
/// Every conformance test: the suites of this assembly and of any loaded assembly marked
/// <see cref="ContainsConformanceTestsAttribute"/> (an assignment's hidden tests). Later
/// subsystems' suites are picked up with no change to the grader.
/// </summary>
public static class ConformanceCatalog
{
    private static readonly object Gate = new();
    private static List<ConformanceTestInfo>? all;
    private static readonly HashSet<Assembly> Scanned = new();

    /// <summary>All tests, ordered by subsystem, group and name.</summary>
    public static IReadOnlyList<ConformanceTestInfo> All
    {
        get
        {
            lock (Gate)
            {
                if (all is null)
                {
                    all = new List<ConformanceTestInfo>();
                    Scan(typeof(ConformanceCatalog).Assembly);
                    foreach (var a in AppDomain.CurrentDomain.GetAssemblies())
                    {
                        if (a.GetCustomAttribute<ContainsConformanceTestsAttribute>() is not null)
                            Scan(a);
                    }
                    Sort();
                }
                return all;
            }
        }
    }

    /// <summary>Adds the suites of an assembly (hidden tests loaded by the grader).</summary>
    public static void Add(Assembly assembly)
    {
        lock (Gate)
        {
            _ = All;
            Scan(assembly);
            Sort();
        }
    }

    /// <summary>The subsystems that have a suite.</summary>
    public static IReadOnlyList<string> Subsystems => All.Select(t => t.Subsystem).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>The tests of one subsystem.</summary>
    public static IReadOnlyList<ConformanceTestInfo> For(string subsystem) =>
        All.Where(t => string.Equals(t.Subsystem, subsystem, StringComparison.Ordinal)).ToList();

    /// <summary>A test by id (<c>subsystem/group/name</c>), or by its unique name within the subsystem.</summary>
    public static ConformanceTestInfo? Find(string subsystem, string idOrName) =>
        All.FirstOrDefault(t => t.Id == idOrName)
        ?? All.FirstOrDefault(t => t.Subsystem == subsystem && t.Name == idOrName);

    private static void Scan(Assembly assembly)
    {
        if (!Scanned.Add(assembly))
            return;
        foreach (var type in SafeTypes(assembly))
        {
            var suite = type.GetCustomAttribute<ConformanceSuiteAttribute>();
            if (suite is null)
                continue;
            foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                var attribute = method.GetCustomAttribute<ConformanceTestAttribute>();
                if (attribute is null)
                    continue;
                var parameters = method.GetParameters();
                if (parameters.Length != 1 || parameters[0].ParameterType != typeof(ConformanceContext) || method.ReturnType != typeof(void))
                    throw new InvalidOperationException($"{type.FullName}.{method.Name}: a conformance test is 'void Name(ConformanceContext ctx)'.");
                all!.Add(new ConformanceTestInfo(suite.Subsystem, method, attribute));
            }
        }
    }

    private static IEnumerable<Type> SafeTypes(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException ex)
        {
            return ex.Types.Where(t => t is not null)!;
        }
    }

    private static void Sort()
    {
        var duplicate = all!.GroupBy(t => t.Id).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new InvalidOperationException($"Two conformance tests have the id '{duplicate.Key}'.");
        all!.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
    }
}
