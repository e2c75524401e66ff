using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace KernelHarness.Generators;

/// <summary>
/// Builds the kernel API from its description (docs/design/api-description.md): in the KernelHarness
/// assembly the subsystem interfaces, the <c>Kernel</c> facade, the function table and the Machine's
/// bindings; in a student's assembly the conformance test classes of the subsystems it implements.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class KernelGenerator : IIncrementalGenerator
{
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        // ---- Pipeline A: the description, in the KernelHarness assembly ----
        var descriptions = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                Naming.KernelSubsystemAttribute,
                static (node, _) => node is InterfaceDeclarationSyntax
                    || (node is ClassDeclarationSyntax declaration && declaration.Modifiers.Any(SyntaxKind.StaticKeyword)),
                static (context, cancellationToken) => DescriptionParser.Parse(context, cancellationToken))
            .Where(static model => model is not null)
            .Select(static (model, _) => model!)
            .WithTrackingName(TrackingNames.Descriptions);

        var isKernelHarness = context.CompilationProvider
            .Select(static (compilation, _) => compilation.AssemblyName == Naming.KernelHarnessAssembly);

        var kernel = descriptions
            .Collect()
            .Combine(isKernelHarness)
            .Select(static (pair, cancellationToken) => pair.Right ? BuildKernelModel(pair.Left, cancellationToken) : null)
            .WithTrackingName(TrackingNames.AllDescriptions);

        context.RegisterSourceOutput(descriptions, static (context, description) =>
        {
            if (description.IsDispatched)
            {
                context.AddSource("Subsystems." + Naming.ForHintName(description.InterfaceName) + ".g.cs", Emitter.Interface(description, context.CancellationToken));
            }
        });

        var facades = kernel
            .SelectMany(static (model, _) => model is null ? ImmutableArray<FacadeModel>.Empty : model.Facades.ToImmutableArray())
            .WithTrackingName(TrackingNames.Facades);
        context.RegisterSourceOutput(facades, static (context, facade) =>
            context.AddSource(facade.HintName, Emitter.Facade(facade, context.CancellationToken)));

        context.RegisterSourceOutput(kernel, static (context, model) =>
        {
            if (model is not null)
            {
                context.AddSource("KernelFunctions.g.cs", Emitter.FunctionTable(model, context.CancellationToken));
                context.AddSource("Machine.g.cs", Emitter.MachineBindings(model, context.CancellationToken));
            }
        });

        // ---- Pipeline B: conformance test classes, in a student's assembly ----
        var environment = context.CompilationProvider
            .Select(static (compilation, _) => new ConformanceEnvironment(
                compilation.GetTypeByMetadataName(Naming.XunitFactAttribute) is not null,
                compilation.GetTypeByMetadataName(Naming.ConformanceRunner) is not null,
                compilation.AssemblyName == Naming.KernelHarnessAssembly))
            .WithTrackingName(TrackingNames.ConformanceEnabled);

        var targets = context.SyntaxProvider
            .CreateSyntaxProvider(
                static (node, _) => ConformanceTargets.IsCandidate(node),
                static (context, cancellationToken) => ConformanceTargets.Parse(context, cancellationToken))
            .Where(static target => target is not null)
            .Select(static (target, _) => target!)
            .WithTrackingName(TrackingNames.ConformanceTargets);

        var jobs = targets
            .Combine(environment)
            .Where(static pair => pair.Right.Enabled)
            .Select(static (pair, _) => pair.Left)
            .WithTrackingName(TrackingNames.ConformanceJobs);

        context.RegisterSourceOutput(jobs, static (context, target) => ConformanceTargets.Emit(context, target));
    }

    /// <summary>Sorts the descriptions (boot order, then name) and names every dispatched function's id and every facade file.</summary>
    internal static KernelModel BuildKernelModel(ImmutableArray<DescriptionModel> descriptions, CancellationToken cancellationToken)
    {
        var sorted = descriptions
            .OrderBy(d => d.BootOrder)
            .ThenBy(d => d.SubsystemName, StringComparer.Ordinal)
            .ThenBy(d => d.InterfaceName, StringComparer.Ordinal)
            .ToList();

        var usedIds = new HashSet<string>(StringComparer.Ordinal);
        var subsystemCounts = sorted.GroupBy(d => d.SubsystemName, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var usedHints = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var facades = new List<FacadeModel>();
        foreach (var description in sorted)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var ids = new List<string>();
            foreach (var member in description.Members)
            {
                if (!description.IsDispatched || member.IsBootHook)
                {
                    ids.Add(string.Empty);
                    continue;
                }

                var id = Naming.Escape(member.Name);
                for (var n = 2; !usedIds.Add(id); n++)
                {
                    id = member.Name + "_" + n.ToString(System.Globalization.CultureInfo.InvariantCulture);
                }

                ids.Add(id);
            }

            var stem = "Kernel." + Naming.ForHintName(description.SubsystemName)
                + (subsystemCounts[description.SubsystemName] > 1 ? "." + Naming.ForHintName(description.InterfaceName) : string.Empty);
            var hint = stem + ".g.cs";
            for (var n = 2; !usedHints.Add(hint); n++)
            {
                hint = stem + "." + n.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".g.cs";
            }

            facades.Add(new FacadeModel(description, hint, ids.ToEquatableArray()));
        }

        return new KernelModel(sorted.ToEquatableArray(), facades.ToEquatableArray());
    }
}
